/**
 * The PostgreSQL seeder of bench/data-growth.ts: the same population as seedSqlite (seed.ts),
 * written server-side in a few statements over generate_series, so 10 million audit rows cost no
 * round trips. Runs after the gateway's own migrations created the schema (its first start), with
 * the gateway stopped. Values are drawn with random() after setseed(), so a run is repeatable;
 * ids are md5 of a prefix and a number, formatted as a UUID (seedUuid gives the same in JS).
 */
import { createHash } from 'node:crypto';
import { Client } from 'pg';
import { HOUR_MS, MINUTE_MS } from '../../server/src/audit/audit-rollup.entity';
import { LATENCY_BOUNDS_MS, LATENCY_COLUMNS } from '../../server/src/audit/latency-histogram';
import type { Seeder } from './seed';
// clientLastUsed (seed.ts) in SQL: `now - (i * 1000) % day`.

const DAY_MS = 24 * 3_600_000;
const TOOLS = ['echo', 'search', 'read', 'write', 'list', 'summarize', 'fetch', 'delete'];
const OTHER_TYPES = ['token.refresh', 'token.refresh', 'token.issue', 'login', 'consent', 'grant.revoke'];
/** Audit rows per INSERT: one statement per million rows, for a progress line and a bounded WAL per statement. */
const AUDIT_CHUNK = 1_000_000;

/** md5(prefix || i)::uuid::text, as PostgreSQL writes it. */
export function seedUuid(prefix: string, i: number): string {
  const h = createHash('md5').update(`${prefix}${i}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

const uuidSql = (prefix: string, n: string) => `md5('${prefix}' || (${n}))::uuid::text`;
/** base64url(sha256(text)), the shape of the gateway's token hashes. */
const sha256Sql = (text: string) => `translate(rtrim(encode(sha256(convert_to(${text}, 'UTF8')), 'base64'), '='), '+/', '-_')`;
/** One element of a text[] parameter, picked by a random() column. */
const pickSql = (param: string, r: string) => `(${param}::text[])[1 + floor(${r} * cardinality(${param}::text[]))::int]`;

/** The count of each latency bucket (latencyBucket in SQL): only forwarded requests that are not a standalone GET stream count (RollupWriter). */
const LATENCY_COUNTS = LATENCY_COLUMNS.map((_, k) => {
  const low = k === 0 ? '' : ` AND duration_ms > ${LATENCY_BOUNDS_MS[k - 1]}`;
  const high = k < LATENCY_BOUNDS_MS.length ? ` AND duration_ms <= ${LATENCY_BOUNDS_MS[k]}` : '';
  return `count(*) FILTER (WHERE type = 'mcp.request' AND mcp_method IS DISTINCT FROM 'GET' AND duration_ms IS NOT NULL${low}${high})`;
}).join(', ');
const addOnConflict = (table: string, columns: string[]) => columns.map((c) => `${c} = ${table}.${c} + excluded.${c}`).join(', ');

export const seedPostgres: Seeder = async (target, sizes, now) => {
  if (!target.databaseUrl) throw new Error('seedPostgres: no database URL');
  const t0 = performance.now();
  const db = new Client({ connectionString: target.databaseUrl });
  await db.connect();
  try {
    // The bench's own throwaway data: no need to wait for the WAL to reach disk.
    await db.query("SET synchronous_commit = off; SET work_mem = '256MB'; SET maintenance_work_mem = '512MB'; SELECT setseed(0.42)");
    const span = sizes.days * DAY_MS;
    const [U, C, G, N] = [sizes.users, sizes.clients, sizes.grants, sizes.auditRows];

    await db.query('BEGIN');
    // One live console session per user: every sign-in deletes the expired ones.
    await db.query(
      `INSERT INTO users (id, email, password_hash, display_name, role, disabled, created_at)
       SELECT ${uuidSql('u', 'i')}, 'user' || i || '@seed.example', NULL, 'User ' || i, 'member', false, ${now - span} + i FROM generate_series(0, ${U - 1}) AS i`,
    );
    await db.query(
      `INSERT INTO login_sessions (id_hash, user_id, created_at, expires_at)
       SELECT ${sha256Sql("'ls' || i")}, ${uuidSql('u', 'i')}, ${now - 3_600_000}, ${now + 7 * DAY_MS} FROM generate_series(0, ${U - 1}) AS i`,
    );
    await db.query(
      `INSERT INTO oauth_clients (client_id, client_name, redirect_uris, token_endpoint_auth_method, grant_types, response_types, extra_metadata, created_at, last_used_at, registration_source)
       SELECT ${uuidSql('c', 'i')}, 'Client ' || i, '["http://127.0.0.1:9/cb"]', 'none', '["authorization_code","refresh_token"]', '["code"]', '{}', ${now - span} + i,
         ${now} - (i::bigint * 1000) % ${DAY_MS}, 'dcr'
       FROM generate_series(0, ${C - 1}) AS i`,
    );
    // Each grant's draws once, in a temporary table the four inserts below read.
    await db.query(
      `CREATE TEMP TABLE seed_grants ON COMMIT DROP AS
       SELECT i, ${uuidSql('g', 'i')} AS id, ${uuidSql('u', `floor(random() * ${U})::int`)} AS user_id, ${uuidSql('c', `floor(random() * ${C})::int`)} AS client_id,
         ${pickSql('$1', 'random()')} AS upstream, ${now} - floor(random() * ${span})::bigint AS created, random() < 0.2 AS revoked,
         ${now} - floor(random() * ${DAY_MS})::bigint AS last_used, ${now + 3_600_000} - floor(random() * ${2 * 3_600_000})::bigint AS access_expires
       FROM generate_series(0, ${G - 1}) AS i`,
      [target.upstreams],
    );
    await db.query(
      `INSERT INTO grants (id, user_id, client_id, upstream_slug, scope, created_at, revoked_at, revoked_reason, last_used_at)
       SELECT id, user_id, client_id, upstream, 'mcp', created, CASE WHEN revoked THEN created + 1000 END, CASE WHEN revoked THEN 'user' END, CASE WHEN revoked THEN NULL ELSE last_used END
       FROM seed_grants`,
    );
    await db.query(
      `INSERT INTO consents (user_id, client_id, upstream_slug, scope, created_at)
       SELECT user_id, client_id, upstream, 'mcp', created FROM seed_grants ON CONFLICT (user_id, client_id, upstream_slug) DO NOTHING`,
    );
    await db.query(
      `INSERT INTO access_tokens (token_hash, grant_id, client_id, user_id, upstream_slug, scope, expires_at)
       SELECT ${sha256Sql("'at' || i")}, id, client_id, user_id, upstream, 'mcp', access_expires FROM seed_grants WHERE NOT revoked`,
    );
    await db.query(
      `INSERT INTO refresh_tokens (token_hash, grant_id, created_at, expires_at, rotated_at, rotation_nonce)
       SELECT ${sha256Sql("'rt' || i")}, id, created, ${now + 30 * DAY_MS}, NULL, NULL FROM seed_grants WHERE NOT revoked`,
    );
    await db.query('COMMIT');

    // The audit log: its secondary indexes are built once after the rows are in (far faster than
    // 10 million index updates), from their own definitions, so they are exactly the migrations'.
    const base = Number((await db.query<{ id: string }>('SELECT coalesce(max(id), 0) AS id FROM audit_events')).rows[0].id);
    const indexes = (
      await db.query<{ name: string; def: string }>(
        `SELECT i.indexname AS name, i.indexdef AS def FROM pg_indexes i
         WHERE i.schemaname = current_schema() AND i.tablename = 'audit_events'
           AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)`,
      )
    ).rows;
    for (const { name } of indexes) await db.query(`DROP INDEX "${name}"`);
    for (let start = 0; start < N; start += AUDIT_CHUNK) {
      const end = Math.min(start + AUDIT_CHUNK, N) - 1;
      // OFFSET 0 keeps the draws in the inner query (evaluated once per row) however often the outer one reads them.
      await db.query(
        `INSERT INTO audit_events (at, type, outcome, user_id, client_id, upstream_slug, mcp_method, tool, status, duration_ms, ip, detail)
         SELECT at, CASE WHEN proxied THEN 'mcp.request' ELSE other END, CASE WHEN failed THEN 'failure' ELSE 'success' END,
           CASE WHEN NOT proxied AND failed THEN NULL ELSE user_id END,
           CASE WHEN proxied THEN client_id END, CASE WHEN proxied THEN upstream END,
           CASE WHEN proxied THEN CASE WHEN tool IS NULL THEN 'tools/list' ELSE 'tools/call' END END, CASE WHEN proxied THEN tool END,
           CASE WHEN proxied THEN CASE WHEN failed THEN 502 ELSE 200 END END, CASE WHEN proxied THEN duration END,
           CASE WHEN proxied THEN '10.0.' || (i % 250) || '.' || ((i >> 8) % 250) ELSE '10.0.0.1' END, NULL
         FROM (
           SELECT i, at, proxied, other, user_id, client_id, upstream, duration,
             CASE WHEN proxied THEN r_fail < 0.03 ELSE other = 'login' AND r_fail < 0.25 END AS failed,
             CASE WHEN r_tool < 0.6 THEN ${pickSql('$2', 'r_which')} END AS tool
           FROM (
             SELECT i, ${now - span} + (i * ${span - 60_000}) / ${N} AS at, random() < 0.94 AS proxied, ${pickSql('$3', 'random()')} AS other,
               ${uuidSql('u', `floor(random() * ${U})::int`)} AS user_id, ${uuidSql('c', `floor(random() * ${C})::int`)} AS client_id,
               ${pickSql('$1', 'random()')} AS upstream, round(exp(random() * 6))::bigint AS duration,
               random() AS r_fail, random() AS r_tool, random() AS r_which
             FROM generate_series(${start}::bigint, ${end}::bigint) AS i OFFSET 0
           ) draws
         ) rows`,
        [target.upstreams, TOOLS, OTHER_TYPES],
      );
    }
    for (const { def } of indexes) await db.query(def);

    // The rollups the audit batches would have written for these rows (RollupWriter's sums, grouped in SQL).
    const latency = LATENCY_COLUMNS.join(', ');
    await db.query(
      `INSERT INTO audit_counts (type, outcome, start_at, count)
       SELECT type, outcome, at - at % ${MINUTE_MS}, count(*) FROM audit_events WHERE id > ${base} GROUP BY 1, 2, 3
       ON CONFLICT (type, outcome, start_at) DO UPDATE SET ${addOnConflict('audit_counts', ['count'])}`,
    );
    for (const bucket of [MINUTE_MS, HOUR_MS]) {
      await db.query(
        `INSERT INTO audit_rollups (bucket_ms, start_at, upstream_slug, requests, errors, ${latency})
         SELECT ${bucket}, at - at % ${bucket}, upstream_slug, count(*), count(*) FILTER (WHERE outcome = 'failure'), ${LATENCY_COUNTS}
         FROM audit_events WHERE id > ${base} AND upstream_slug IS NOT NULL GROUP BY 2, 3
         ON CONFLICT (bucket_ms, start_at, upstream_slug) DO UPDATE SET ${addOnConflict('audit_rollups', ['requests', 'errors', ...LATENCY_COLUMNS])}`,
      );
      await db.query(
        `INSERT INTO audit_tool_rollups (bucket_ms, start_at, upstream_slug, tool, calls, errors, ${latency})
         SELECT ${bucket}, at - at % ${bucket}, upstream_slug, tool, count(*), count(*) FILTER (WHERE outcome = 'failure'), ${LATENCY_COUNTS}
         FROM audit_events WHERE id > ${base} AND upstream_slug IS NOT NULL AND tool IS NOT NULL GROUP BY 2, 3, 4
         ON CONFLICT (bucket_ms, start_at, upstream_slug, tool) DO UPDATE SET ${addOnConflict('audit_tool_rollups', ['calls', 'errors', ...LATENCY_COLUMNS])}`,
      );
    }
    // A settled database, as autovacuum leaves it: statistics for the planner and a visibility map
    // (index-only scans), rather than measuring the first minutes after a bulk load.
    await db.query('VACUUM (ANALYZE)');
  } finally {
    await db.end();
  }
  return { userId: seedUuid('u', 17 % sizes.users), clientId: seedUuid('c', 123 % sizes.clients), seconds: (performance.now() - t0) / 1000 };
};
