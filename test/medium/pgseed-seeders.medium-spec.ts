import { LATENCY_COLUMNS } from '../../server/src/audit/latency-histogram';
import { RollupInput, RollupWriter } from '../../server/src/audit/rollup-writer';
import { AuditModule } from '../../server/src/audit/audit.module';
import { Transactions, Tx } from '../../server/src/database/transactions';
import { SEEDERS, Sizes } from '../../bench/data-growth/seed';
import { testEngine } from '../helpers/test-database';
import { createNestContext, NestContext } from './nest-context';

const SIZES: Sizes = { users: 40, clients: 120, grants: 300, auditRows: 6_000, days: 2 };
const UPSTREAMS = ['bench', 'notes', 'files'];
/** Each rollup table's key columns (in the order RollupWriter passes them), then its sums. */
const ROLLUP_COLUMNS: Record<string, [key: string[], sums: string[]]> = {
  audit_rollups: [
    ['bucket_ms', 'start_at', 'upstream_slug'],
    ['requests', 'errors', ...LATENCY_COLUMNS],
  ],
  audit_tool_rollups: [
    ['bucket_ms', 'start_at', 'upstream_slug', 'tool'],
    ['calls', 'errors', ...LATENCY_COLUMNS],
  ],
  audit_counts: [['type', 'outcome', 'start_at'], ['count']],
};

/**
 * A RollupWriter's upserts summed in memory: what the gateway's audit batches would have left in
 * the rollup tables for the same rows (key: the table and its primary key's values).
 */
function expectedRollups(rows: RollupInput[]): Promise<Map<string, number[]>> {
  const sums = new Map<string, number[]>();
  const keyLength: Record<string, number> = { audit_rollups: 3, audit_tool_rollups: 4, audit_counts: 3 };
  const tx = {
    engine: 'sqlite',
    execute: (sql: string, params: unknown[]) => {
      const table = /^INSERT INTO (\w+)/.exec(sql)![1];
      const key = `${table}|${params.slice(0, keyLength[table]).join('|')}`;
      const values = params.slice(keyLength[table]).map(Number);
      const sum = sums.get(key);
      sums.set(key, sum ? sum.map((v, i) => v + values[i]) : values);
      return Promise.resolve(1);
    },
  } as unknown as Tx;
  return new RollupWriter().countBatch(tx, rows).then(() => sums);
}

/**
 * The data-growth bench's seeder of the engine under test (GATEHOUSE_TEST_DB) on a migrated
 * database: the counts it was asked for, rows the gateway's own code reads back, and rollups equal
 * to what RollupWriter would have written for its audit rows (PostgreSQL computes them in SQL).
 */
describe(`the data-growth seeder (${testEngine()})`, () => {
  let ctx: NestContext;

  beforeAll(async () => {
    // A first start runs the migrations (as the bench's first start of the gateway does); the seeder writes with the gateway stopped.
    ctx = await createNestContext({ imports: [AuditModule] });
    await ctx.close();
  });

  afterAll(async () => {
    await ctx.close().catch(() => undefined);
    ctx.cleanup();
  });

  it('writes the sizes asked for, and rollups equal to RollupWriter sums of its audit rows', async () => {
    const now = Date.now();
    const seeded = await SEEDERS[testEngine()]({ dataDir: ctx.dataDir, databaseUrl: ctx.config.database?.url, upstreams: UPSTREAMS }, SIZES, now);

    ctx = await createNestContext({ imports: [AuditModule], dataDir: ctx.dataDir });
    const transactions = ctx.app.get(Transactions);
    const count = async (sql: string, params: unknown[] = []) => Number((await transactions.query<{ n: number | string }>(sql, params))[0].n);

    expect(await count('SELECT COUNT(*) AS n FROM users')).toBe(SIZES.users);
    expect(await count('SELECT COUNT(*) AS n FROM login_sessions WHERE expires_at > ?', [now])).toBe(SIZES.users);
    // Used within the day: the start's purge of unused registered clients keeps them all.
    expect(await count('SELECT COUNT(*) AS n FROM oauth_clients WHERE last_used_at > ?', [now - 24 * 3_600_000])).toBe(SIZES.clients);
    expect(await count('SELECT COUNT(*) AS n FROM grants')).toBe(SIZES.grants);
    const live = await count('SELECT COUNT(*) AS n FROM grants WHERE revoked_at IS NULL');
    expect(live).toBeGreaterThan(SIZES.grants / 2);
    expect(live).toBeLessThan(SIZES.grants);
    expect(await count('SELECT COUNT(*) AS n FROM access_tokens')).toBe(live);
    expect(await count('SELECT COUNT(*) AS n FROM refresh_tokens')).toBe(live);
    expect(await count('SELECT COUNT(*) AS n FROM consents')).toBeGreaterThan(0);
    // The user and client the bench's filtered pages ask for hold data.
    expect(await count('SELECT COUNT(*) AS n FROM grants WHERE user_id = ?', [seeded.userId])).toBeGreaterThan(0);
    expect(await count('SELECT COUNT(*) AS n FROM audit_events WHERE client_id = ?', [seeded.clientId])).toBeGreaterThan(0);

    const rows = (
      await transactions.query<RollupInput & { at: number | string; durationMs: number | string | null }>(
        'SELECT at, type, outcome, upstream_slug AS "upstreamSlug", tool, mcp_method AS "mcpMethod", duration_ms AS "durationMs" FROM audit_events',
      )
    ).map((r) => ({ ...r, at: Number(r.at), durationMs: r.durationMs === null ? undefined : Number(r.durationMs) }));
    expect(rows).toHaveLength(SIZES.auditRows);
    expect(rows.every((r) => r.at < now && r.at >= now - SIZES.days * 24 * 3_600_000)).toBe(true);
    expect(new Set(rows.map((r) => r.type)).size).toBeGreaterThan(3);
    expect(rows.filter((r) => r.outcome === 'failure').length).toBeGreaterThan(0);

    const expected = await expectedRollups(rows);
    const actual = new Map<string, number[]>();
    for (const [table, [key, sums]] of Object.entries(ROLLUP_COLUMNS)) {
      for (const values of await transactions.query<unknown[]>(`SELECT ${[...key, ...sums].join(', ')} FROM ${table}`, [], true)) {
        actual.set(`${table}|${values.slice(0, key.length).join('|')}`, values.slice(key.length).map(Number));
      }
    }
    expect(actual.size).toBe(expected.size);
    for (const [key, sums] of expected) expect([key, actual.get(key)]).toEqual([key, sums]);
  });
});
