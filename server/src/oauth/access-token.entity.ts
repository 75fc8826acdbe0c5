import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

@Entity('access_tokens')
export class AccessToken {
  @PrimaryColumn('text', { name: 'token_hash' })
  tokenHash: string;

  @Index()
  @Column('text', { name: 'grant_id' })
  grantId: string;

  @Column('text', { name: 'client_id' })
  clientId: string;

  @Column('text', { name: 'user_id' })
  userId: string;

  @Column('text', { name: 'upstream_slug' })
  upstreamSlug: string;

  @Column('text')
  scope: string;

  /** Indexed: the expiry purge deletes by it (a range, not a scan of every row). */
  @Index()
  @Column('integer', { name: 'expires_at' })
  expiresAt: number;
}
