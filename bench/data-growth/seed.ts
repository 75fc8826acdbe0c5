/**
 * The data a grown gateway holds, written straight into its database after its migrations ran and
 * before it starts again. One function per engine (SEEDERS); each writes the same population:
 * users with a console session, clients, grants with their consents, access and refresh tokens, and audit rows spread over
 * the retention window with the rollups the audit batches would have written for them.
 */
import { createHash, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { RollupInput, RollupWriter } from '../../server/src/audit/rollup-writer';
import { DATABASE_FILE } from '../../server/src/database/database.module';
import type { Tx } from '../../server/src/database/transactions';
import { seedPostgres } from './seed-postgres';

export interface Sizes {
  users: number;
  clients: number;
  grants: number;
  auditRows: number;
  /** The audit rows span this many days back from now (the retention window). */
  days: number;
}

/** The full size; `--scale` multiplies every count. */
export const FULL: Sizes = { users: 10_000, clients: 50_000, grants: 100_000, auditRows: 10_000_000, days: 90 };

/**
 * The baseline: one page and a little more of every list (the console's pages hold 50), so both
 * gateways serialize full pages and the difference is what the rows behind them cost.
 */
export const SMALL: Sizes = { users: 60, clients: 60, grants: 120, auditRows: 20_000, days: 90 };

export function scaled(scale: number): Sizes {
  const n = (x: number) => Math.max(1, Math.round(x * scale));
  return { users: n(FULL.users), clients: n(FULL.clients), grants: n(FULL.grants), auditRows: n(FULL.auditRows), days: FULL.days };
}

/** Values the measurements filter on: a user and a client that hold data. */
export interface SeedResult {
  userId: string;
  clientId: string;
  seconds: number;
}

/** Where a seeder writes: the gateway's data directory (SQLite) or its database URL (PostgreSQL). */
export interface SeedTarget {
  dataDir: string;
  /** The gateway's PostgreSQL database (database.url), when it runs on one. */
  databaseUrl?: string;
  /** The upstreams the rows name (the first is the one the bench proxies to). */
  upstreams: string[];
}

export type Seeder = (target: SeedTarget, sizes: Sizes, now: number) => Promise<SeedResult>;

const DAY_MS = 24 * 3_600_000;
const TOOLS = ['echo', 'search', 'read', 'write', 'list', 'summarize', 'fetch', 'delete'];

/** A seeded generator (mulberry32): the same data on every run. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * When seeded client i was last used: within the last day, so that the start's purge of unused
 * registered clients (ClientsService.purgeUnused) keeps them, as it keeps a busy installation's.
 */
export const clientLastUsed = (now: number, i: number) => now - ((i * 1_000) % DAY_MS);

const sha256 = (s: string) => createHash('sha256').update(s).digest('base64url');

/**
 * SQLite: prepared statements in a few big transactions on the file, the gateway stopped
 * (synchronous = OFF while seeding: a crash here only loses the bench's own data).
 */
export const seedSqlite: Seeder = async (target, sizes, now) => {
  const t0 = performance.now();
  const db = new Database(join(target.dataDir, DATABASE_FILE));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = OFF');
  db.pragma('cache_size = -262144');
  const rnd = random(42);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)];
  const span = sizes.days * DAY_MS;
  const userIds = Array.from({ length: sizes.users }, () => randomUUID());
  const clientIds = Array.from({ length: sizes.clients }, () => randomUUID());

  db.transaction(() => {
    // One live console session per user: every sign-in deletes the expired ones.
    const session = db.prepare('INSERT INTO login_sessions (id_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)');
    const user = db.prepare("INSERT INTO users (id, email, password_hash, display_name, role, disabled, created_at) VALUES (?, ?, NULL, ?, 'member', 0, ?)");
    userIds.forEach((id, i) => {
      user.run(id, `user${i}@seed.example`, `User ${i}`, now - span + i);
      session.run(sha256(`ls${i}`), id, now - 3_600_000, now + 7 * DAY_MS);
    });
    const client = db.prepare(
      `INSERT INTO oauth_clients (client_id, client_name, redirect_uris, token_endpoint_auth_method, grant_types, response_types, extra_metadata, created_at, last_used_at, registration_source)
       VALUES (?, ?, '["http://127.0.0.1:9/cb"]', 'none', '["authorization_code","refresh_token"]', '["code"]', '{}', ?, ?, 'dcr')`,
    );
    // Used within the last day (clientLastUsed): the gateway's start deletes registered clients unused for registration.unused_client_days.
    clientIds.forEach((id, i) => client.run(id, `Client ${i}`, now - span + i, clientLastUsed(now, i)));
    const grant = db.prepare(
      'INSERT INTO grants (id, user_id, client_id, upstream_slug, scope, created_at, revoked_at, revoked_reason, last_used_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    const consent = db.prepare('INSERT OR IGNORE INTO consents (user_id, client_id, upstream_slug, scope, created_at) VALUES (?, ?, ?, ?, ?)');
    const access = db.prepare('INSERT INTO access_tokens (token_hash, grant_id, client_id, user_id, upstream_slug, scope, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)');
    const refresh = db.prepare('INSERT INTO refresh_tokens (token_hash, grant_id, created_at, expires_at, rotated_at, rotation_nonce) VALUES (?, ?, ?, ?, NULL, NULL)');
    for (let i = 0; i < sizes.grants; i++) {
      const id = randomUUID();
      const userId = pick(userIds);
      const clientId = pick(clientIds);
      const upstream = pick(target.upstreams);
      const created = now - Math.floor(rnd() * span);
      const revoked = rnd() < 0.2 ? created + 1000 : null;
      grant.run(id, userId, clientId, upstream, 'mcp', created, revoked, revoked ? 'user' : null, revoked ? null : now - Math.floor(rnd() * DAY_MS));
      consent.run(userId, clientId, upstream, 'mcp', created);
      if (revoked) continue;
      access.run(sha256(`at${i}`), id, clientId, userId, upstream, 'mcp', now + 3_600_000 - Math.floor(rnd() * 2 * 3_600_000));
      refresh.run(sha256(`rt${i}`), id, created, now + 30 * DAY_MS);
    }
  })();

  const insert = db.prepare(
    'INSERT INTO audit_events (at, type, outcome, user_id, client_id, upstream_slug, mcp_method, tool, status, duration_ms, ip, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
  );
  const rollups = new RollupWriter();
  const CHUNK = 200_000;
  // The rollups go through a Tx that runs each statement at once on this connection (the writer is async).
  const tx = sqliteTx(db);
  for (let start = 0; start < sizes.auditRows; start += CHUNK) {
    db.exec('BEGIN');
    {
      let batch: RollupInput[] = [];
      for (let i = start; i < Math.min(start + CHUNK, sizes.auditRows); i++) {
        // Oldest first, as the gateway writes them; the newest minutes stay free for the bench's own rows.
        const at = now - span + Math.floor((i * (span - 60_000)) / sizes.auditRows);
        const userId = pick(userIds);
        if (rnd() < 0.94) {
          const failed = rnd() < 0.03;
          const tool = rnd() < 0.6 ? pick(TOOLS) : null;
          const row = {
            at,
            type: 'mcp.request',
            outcome: failed ? 'failure' : 'success',
            upstreamSlug: pick(target.upstreams),
            mcpMethod: tool ? 'tools/call' : 'tools/list',
            tool,
            durationMs: Math.round(Math.exp(rnd() * 6)),
          } as const;
          insert.run(
            at,
            row.type,
            row.outcome,
            userId,
            pick(clientIds),
            row.upstreamSlug,
            row.mcpMethod,
            tool,
            failed ? 502 : 200,
            row.durationMs,
            `10.0.${i % 250}.${(i >> 8) % 250}`,
            null,
          );
          batch.push(row);
        } else {
          const type = pick(['token.refresh', 'token.refresh', 'token.issue', 'login', 'consent', 'grant.revoke']);
          const failed = type === 'login' && rnd() < 0.25;
          insert.run(at, type, failed ? 'failure' : 'success', failed ? null : userId, null, null, null, null, null, null, '10.0.0.1', null);
          batch.push({ at, type, outcome: failed ? 'failure' : 'success' });
        }
        if (batch.length === 5_000) {
          await rollups.countBatch(tx, batch);
          batch = [];
        }
      }
      await rollups.countBatch(tx, batch);
    }
    db.exec('COMMIT');
  }
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  return { userId: userIds[17 % userIds.length], clientId: clientIds[123 % clientIds.length], seconds: (performance.now() - t0) / 1000 };
};

/** One seeder per engine (`--engine`); PostgreSQL's writes server-side in seed-postgres.ts. */
export const SEEDERS: Record<string, Seeder> = { sqlite: seedSqlite, postgres: seedPostgres };

/** The part of a Tx the rollup writer uses, on a bare better-sqlite3 connection (statements prepared once). */
function sqliteTx(db: Database.Database): Tx {
  const statements = new Map<string, Database.Statement>();
  const execute = (sql: string, params: unknown[]) => {
    let statement = statements.get(sql);
    if (!statement) statements.set(sql, (statement = db.prepare(sql)));
    return Promise.resolve(statement.run(...params).changes);
  };
  return { engine: 'sqlite', execute } as unknown as Tx;
}
