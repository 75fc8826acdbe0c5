import { Repository, SelectQueryBuilder } from 'typeorm';
import { Grant } from '../grant.entity';

/** Which grants to list; every given filter applies. `active`: true = not revoked, false = revoked. */
export interface GrantFilter {
  userId?: string;
  clientId?: string;
  upstreamSlug?: string;
  active?: boolean;
}

/** Keyset pagination, newest first: up to `limit` grants after `after` = [createdAt, id] of the last one seen. */
export interface GrantPage {
  after: [number, string] | null;
  limit: number;
}

/** What the console shows of a client from its grants. */
export interface ClientGrantStats {
  clientId: string;
  activeGrants: number;
  /** When a token of any of its grants was last used at the proxy. */
  lastUsedAt: number | null;
  /** When its first grant was made. */
  firstGrantAt: number;
}

/**
 * The grants list query. Each filter has an index that starts with its column and continues with
 * (created_at, id) (see grant.entity.ts), so SQLite walks the index in order from the cursor and
 * stops after `limit` rows: no sort, whatever the table's size.
 */
export function grantListQuery(repo: Repository<Grant>, filter: GrantFilter, page: GrantPage): SelectQueryBuilder<Grant> {
  const qb = repo.createQueryBuilder('g').orderBy('g.createdAt', 'DESC').addOrderBy('g.id', 'DESC').limit(page.limit);
  if (filter.userId !== undefined) qb.andWhere('g.user_id = :userId', { userId: filter.userId });
  if (filter.clientId !== undefined) qb.andWhere('g.client_id = :clientId', { clientId: filter.clientId });
  if (filter.upstreamSlug !== undefined) qb.andWhere('g.upstream_slug = :upstreamSlug', { upstreamSlug: filter.upstreamSlug });
  if (filter.active !== undefined) {
    // Only "live, of anyone" walks the revoked_at index. Otherwise a unary + keeps SQLite off it
    // (sqlite.org/optoverview.html, "Disqualifying WHERE clause terms using unary +"): the owner's
    // index, or (created_at, id), gives the order, and the condition just filters.
    const owner = filter.userId !== undefined || filter.clientId !== undefined || filter.upstreamSlug !== undefined;
    const column = filter.active && !owner ? 'g.revoked_at' : '+g.revoked_at';
    qb.andWhere(filter.active ? `${column} IS NULL` : `${column} IS NOT NULL`);
  }
  // A row value comparison (SQLite ≥ 3.15) is what lets the index range start at the cursor.
  if (page.after) qb.andWhere('(g.created_at, g.id) < (:afterAt, :afterId)', { afterAt: page.after[0], afterId: page.after[1] });
  return qb;
}

/** Per client: live grants, last use and first grant; of the given clients, or of every client whose id is a metadata document URL. */
export async function clientGrantStats(repo: Repository<Grant>, clients: string[] | 'metadata documents'): Promise<ClientGrantStats[]> {
  if (Array.isArray(clients) && !clients.length) return [];
  const rows = await clientGrantStatsQuery(repo, clients).getRawMany<{ clientId: string; activeGrants: number; lastUsedAt: number | null; firstGrantAt: number }>();
  return rows.map((r) => ({
    clientId: r.clientId,
    activeGrants: Number(r.activeGrants),
    lastUsedAt: r.lastUsedAt === null ? null : Number(r.lastUsedAt),
    firstGrantAt: Number(r.firstGrantAt),
  }));
}

/**
 * The query of clientGrantStats. The metadata documents' prefix search is answered from an index
 * on both engines: SQLite's GLOB from (client_id, …), PostgreSQL's LIKE from its text_pattern_ops
 * index (GRANTS_CLIENT_ID_PREFIX_INDEX in grant.entity.ts).
 */
export function clientGrantStatsQuery(repo: Repository<Grant>, clients: string[] | 'metadata documents'): SelectQueryBuilder<Grant> {
  const qb = repo
    .createQueryBuilder('g')
    .select('g.client_id', 'clientId')
    .addSelect('SUM(CASE WHEN g.revoked_at IS NULL THEN 1 ELSE 0 END)', 'activeGrants')
    .addSelect('MAX(g.last_used_at)', 'lastUsedAt')
    .addSelect('MIN(g.created_at)', 'firstGrantAt')
    .groupBy('g.client_id');
  // GLOB is case-sensitive, so SQLite can answer the prefix from the client_id index; PostgreSQL has
  // no GLOB, and its LIKE is the case-sensitive one.
  const prefix = repo.manager.connection.options.type === 'postgres' ? (p: string) => `g.client_id LIKE '${p}%'` : (p: string) => `g.client_id GLOB '${p}*'`;
  if (clients === 'metadata documents') qb.where(`(${prefix('https://')} OR ${prefix('http://')})`);
  else qb.where('g.client_id IN (:...clients)', { clients });
  return qb;
}
