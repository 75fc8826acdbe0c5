import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

/**
 * PostgreSQL: (client_id text_pattern_ops), for the client list's prefix search of metadata
 * document clients (client_id LIKE 'https://%', grants/grant-query.ts). A plain b-tree serves LIKE
 * only under the C collation; under any other (C.UTF-8 and en_US.UTF-8 included) PostgreSQL read
 * every grant on every page of the client list (PostgreSQL docs, 11.10 Operator Classes and
 * Operator Families). SQLite answers the same search (GLOB) from the (client_id, …) index.
 */
export const GRANTS_CLIENT_ID_PREFIX_INDEX = 'IDX_grants_client_id_prefix';

/**
 * One authorization of a client by a user for one upstream: the family of its refresh and access tokens.
 * The indexes serve the admin API's grants list (grants/grant-query.ts): each filter's column, then
 * the list's order (created_at, id), so a page is an index range however many grants there are.
 * The dashboard's live grants and their users are counted by triggers (live-grant-counts.entity.ts).
 * IDX_grants_client_id_prefix exists on PostgreSQL only (its migration; TypeORM cannot express an
 * operator class, hence synchronize: false): see GRANTS_CLIENT_ID_PREFIX_INDEX.
 */
@Entity('grants')
@Index(GRANTS_CLIENT_ID_PREFIX_INDEX, { synchronize: false })
@Index(['userId', 'createdAt', 'id'])
@Index(['clientId', 'createdAt', 'id'])
@Index(['upstreamSlug', 'createdAt', 'id'])
@Index(['revokedAt', 'createdAt', 'id'])
@Index(['createdAt', 'id'])
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
