import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

/**
 * One authorization of a client by a user for one upstream: the family of its refresh and access tokens.
 * The indexes serve the admin API's grants list (grants/grant-query.ts): each filter's column, then
 * the list's order (created_at, id), so a page is an index range however many grants there are.
 * (revoked_at, user_id) answers the dashboard's live grants and their users from the index alone.
 */
@Entity('grants')
@Index(['userId', 'createdAt', 'id'])
@Index(['clientId', 'createdAt', 'id'])
@Index(['upstreamSlug', 'createdAt', 'id'])
@Index(['revokedAt', 'createdAt', 'id'])
@Index(['createdAt', 'id'])
@Index(['revokedAt', 'userId'])
export class Grant {
  @PrimaryColumn('text')
  id: string;

  @Column('text', { name: 'user_id' })
  userId: string;

  @Column('text', { name: 'client_id' })
  clientId: string;

  @Column('text', { name: 'upstream_slug' })
  upstreamSlug: string;

  @Column('text')
  scope: string;

  @Column('integer', { name: 'created_at' })
  createdAt: number;

  /** When one of its access tokens was last used at the proxy, to the minute (grants/last-used.ts). */
  @Column('integer', { name: 'last_used_at', nullable: true })
  lastUsedAt: number | null;

  @Column('integer', { name: 'revoked_at', nullable: true })
  revokedAt: number | null;

  @Column('text', { name: 'revoked_reason', nullable: true })
  revokedReason: string | null;
}
