import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

/** One authorization of a client by a user for one upstream: the family of its refresh and access tokens. */
@Entity('grants')
export class Grant {
  @PrimaryColumn('text')
  id: string;

  @Index()
  @Column('text', { name: 'user_id' })
  userId: string;

  @Index()
  @Column('text', { name: 'client_id' })
  clientId: string;

  @Column('text', { name: 'upstream_slug' })
  upstreamSlug: string;

  @Column('text')
  scope: string;

  @Column('integer', { name: 'created_at' })
  createdAt: number;

  @Column('integer', { name: 'revoked_at', nullable: true })
  revokedAt: number | null;

  @Column('text', { name: 'revoked_reason', nullable: true })
  revokedReason: string | null;
}
