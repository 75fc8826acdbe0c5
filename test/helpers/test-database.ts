import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';

/**
 * The database engine the medium and e2e tiers run on: GATEHOUSE_TEST_DB=sqlite (default) or
 * postgres (a test matrix: the same tests, another engine; .ci/run runs both). PostgreSQL comes from
 * GATEHOUSE_TEST_PG_URL (a server URL; .ci/run starts a throwaway cluster with scripts/pg-throwaway.sh),
 * or, when unset, a throwaway cluster this test file starts and stops itself. Each test gets a
 * fresh database on that server.
 */
export type TestEngine = 'sqlite' | 'postgres';

export function testEngine(): TestEngine {
  const engine = process.env.GATEHOUSE_TEST_DB ?? 'sqlite';
  if (engine !== 'sqlite' && engine !== 'postgres') throw new Error(`GATEHOUSE_TEST_DB must be sqlite or postgres, not ${engine}`);
  return engine;
}

/** Whether PostgreSQL can run here (Debian's postgresql package), for tests that need it whatever the matrix says. */
export function postgresAvailable(): boolean {
  if (process.env.GATEHOUSE_TEST_PG_URL) return true;
  const root = '/usr/lib/postgresql';
  return existsSync(root) && readdirSync(root).some((v) => existsSync(join(root, v, 'bin', 'initdb')));
}

const SCRIPT = join(__dirname, '..', '..', 'scripts', 'pg-throwaway.sh');
let server: Promise<string> | null = null;
let ownCluster: string | null = null;
const pending: Promise<unknown>[] = [];

function serverUrl(): Promise<string> {
  if (process.env.GATEHOUSE_TEST_PG_URL) return Promise.resolve(process.env.GATEHOUSE_TEST_PG_URL);
  server ??= Promise.resolve().then(() => {
    const state = `/tmp/gatehouse-pg-test-${process.pid}-${randomBytes(4).toString('hex')}.state`;
    const url = execFileSync(SCRIPT, ['start'], { encoding: 'utf8', env: { ...process.env, PG_THROWAWAY_STATE: state }, stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    ownCluster = state;
    return url;
  });
  return server;
}

async function admin<T>(fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: await serverUrl() });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

function databaseName(key: string): string {
  return `gh_${createHash('sha256').update(key).digest('hex').slice(0, 24)}`;
}

/** The URL of a database for `key` (e.g. a data directory, so that a restart finds its data), created empty when new. */
export async function postgresDatabase(key: string): Promise<string> {
  const name = databaseName(key);
  await admin(async (c) => {
    const found = await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (!found.rowCount) await c.query(`CREATE DATABASE ${name}`);
  });
  const url = new URL(await serverUrl());
  url.pathname = `/${name}`;
  return url.toString();
}

/** Drops the database of postgresDatabase(key); waited for by the file's afterAll. */
export function dropPostgresDatabase(key: string): void {
  const name = databaseName(key);
  pending.push(admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).catch(() => undefined));
}

// Outside Jest (the benchmarks start gateways through test/helpers/gateway.ts too) there is no afterAll.
if (typeof afterAll === 'function') {
  afterAll(async () => {
    await Promise.all(pending);
    if (ownCluster) execFileSync(SCRIPT, ['stop'], { env: { ...process.env, PG_THROWAWAY_STATE: ownCluster }, stdio: 'ignore' });
  });
}

/**
 * Everything the database stores, as text, to search for secrets that must not be there: the SQLite
 * file and its WAL, or on PostgreSQL every row of every table of postgresDatabase(key).
 */
export async function storedText(dataDir: string): Promise<string> {
  if (testEngine() === 'sqlite') {
    const { readFileSync } = await import('node:fs');
    return ['gatehouse.db', 'gatehouse.db-wal']
      .map((f) => {
        try {
          return readFileSync(join(dataDir, f)).toString('latin1');
        } catch {
          return '';
        }
      })
      .join('');
  }
  const client = new Client({ connectionString: await postgresDatabase(dataDir) });
  await client.connect();
  try {
    const tables = await client.query<{ tablename: string }>("SELECT tablename FROM pg_tables WHERE schemaname = 'public'");
    const parts: string[] = tables.rows.map((t) => t.tablename);
    for (const { tablename } of tables.rows) {
      const rows = await client.query<{ row: string }>(`SELECT t::text AS row FROM "${tablename}" t`);
      parts.push(...rows.rows.map((r) => r.row));
    }
    return parts.join('\n');
  } finally {
    await client.end();
  }
}
