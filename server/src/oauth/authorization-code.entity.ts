import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

@Entity('authorization_codes')
export class AuthorizationCode {
  @PrimaryColumn('text', { name: 'code_hash' })
  codeHash: string;

  @Column('text', { name: 'client_id' })
  clientId: string;

  @Column('text', { name: 'user_id' })
  userId: string;

  @Column('text', { name: 'upstream_slug' })
  upstreamSlug: string;

  @Column('text', { name: 'redirect_uri' })
  redirectUri: string;

  @Column('text', { name: 'code_challenge' })
  codeChallenge: string;

  @Column('text')
  scope: string;

  /** Indexed: the expiry purge deletes by it (a range, not a scan of every row). */
  @Index()
  @Column('integer', { name: 'expires_at' })
  expiresAt: number;

  @Column('integer', { name: 'used_at', nullable: true })
  usedAt: number | null;

  /** The grant created when the code was exchanged: revoked if the code is replayed (OAuth 2.1 §4.1.3). */
  @Column('text', { name: 'grant_id', nullable: true })
  grantId: string | null;
}
