import { AuditModule } from '../../server/src/audit/audit.module';
import { AuditService } from '../../server/src/audit/audit.service';
import { DashboardService } from '../../server/src/audit/dashboard.service';
import { RangeReader, Transactions } from '../../server/src/database/transactions';
import { testEngine } from '../helpers/test-database';
import { createNestContext, NestContext } from './nest-context';

const onPostgres = testEngine() === 'postgres';
const PARALLEL = 'SHOW max_parallel_workers_per_gather';

/**
 * The dashboard's range reads (audit_rollups, audit_tool_rollups, audit_counts) go through
 * Transactions.rangeReads: on PostgreSQL one read-only transaction with parallel plans off, since
 * at full size a parallel scan of the rollups took twice as long as a plain one on 2 cores.
 */
describe(`dashboard range reads (${testEngine()})`, () => {
  let ctx: NestContext;
  let transactions: Transactions;
  let dashboard: DashboardService;
  let audit: AuditService;

  beforeAll(async () => {
    ctx = await createNestContext({ imports: [AuditModule] });
    transactions = ctx.app.get(Transactions);
    dashboard = ctx.app.get(DashboardService);
    audit = ctx.app.get(AuditService);
    for (let i = 0; i < 30; i++)
      audit.record({
        type: 'mcp.request',
        outcome: i % 5 ? 'success' : 'failure',
        upstreamSlug: i % 2 ? 'notes' : 'files',
        mcpMethod: 'tools/call',
        tool: `t${i % 3}`,
        durationMs: i,
      });
    await audit.flush();
  });

  afterAll(async () => {
    jest.restoreAllMocks();
    await ctx?.close();
    ctx?.cleanup();
  });

  it('every rollup read of the dashboard, the upstreams list and the tools page runs in a range read (with parallel plans off on PostgreSQL)', async () => {
    const inRangeReads: { sql: string; parallel: string | null }[] = [];
    const outside: string[] = [];
    const rangeReads = transactions.rangeReads.bind(transactions);
    const query = transactions.query.bind(transactions);
    jest.spyOn(transactions, 'query').mockImplementation((sql, params, raw) => {
      outside.push(sql);
      return query(sql, params, raw);
    });
    jest.spyOn(transactions, 'rangeReads').mockImplementation((work) =>
      rangeReads((read) =>
        work({
          // Each statement is preceded, on the same reader, by a look at the setting it runs under.
          query: async <R>(sql: string, params?: unknown[], raw?: boolean) => {
            const parallel = onPostgres ? (await read.query<{ max_parallel_workers_per_gather: string }>(PARALLEL))[0].max_parallel_workers_per_gather : null;
            inRangeReads.push({ sql, parallel });
            return read.query<R>(sql, params, raw);
          },
        } satisfies RangeReader),
      ),
    );
    try {
      const figures = await dashboard.figures('24h', [{ slug: 'notes', name: 'Notes' }]);
      expect(figures.perUpstream.map((u) => [u.slug, u.requests, u.errors])).toEqual([
        ['files', 15, 3],
        ['notes', 15, 3],
      ]);
      expect(figures.topTools.map((t) => t.calls)).toEqual([5, 5, 5, 5, 5, 5]);
      const traffic = await dashboard.traffic('24h');
      expect(traffic.map((u) => u.requests)).toEqual([15, 15]);
      const tools = await dashboard.tools('1h', { upstream: 'notes', limit: 10 });
      expect(tools.map((t) => t.calls)).toEqual([5, 5, 5]);
    } finally {
      jest.restoreAllMocks();
    }
    const rollupReads = inRangeReads.filter((r) => /audit_(tool_)?rollups|audit_counts/.test(r.sql));
    // The dashboard: tools, failed sign-ins, traffic (2 statements) for the settled hours, and again
    // for the open ones; the upstreams list: the open hours only (the settled ones are kept); the tools page.
    expect(rollupReads).toHaveLength(4 + 4 + 4 + 1);
    expect(rollupReads.map((r) => r.parallel)).toEqual(new Array(13).fill(onPostgres ? '0' : null));
    expect(outside.filter((sql) => /audit_(tool_)?rollups|audit_counts/.test(sql))).toEqual([]);
  });

  it('hands back what the work returns, and a failing read rejects with its error', async () => {
    const answer = await transactions.rangeReads(async (read) => (await read.query<[number]>('SELECT 1 + 1', [], true))[0][0]);
    expect(Number(answer)).toBe(2);
    await expect(transactions.rangeReads((read) => read.query('SELECT * FROM no_such_table'))).rejects.toThrow(/no_such_table/);
  });

  (onPostgres ? it : it.skip)('PostgreSQL: read-only, the setting stays inside (other reads keep parallel plans), and failed batches give their connection back', async () => {
    await expect(transactions.rangeReads((read) => read.query('DELETE FROM audit_events'))).rejects.toThrow(/read-only transaction/);
    expect(Number((await ctx.db.query('SELECT COUNT(*) AS n FROM audit_events'))[0].n)).toBe(30);
    const [outside] = await transactions.query<{ max_parallel_workers_per_gather: string }>(PARALLEL);
    expect(outside.max_parallel_workers_per_gather).not.toBe('0');
    // More failures than the pool has connections (TypeORM's default: 10): each one went back.
    for (let i = 0; i < 15; i++) await expect(transactions.rangeReads((read) => read.query('SELECT 1/0'))).rejects.toThrow(/division by zero/);
    const [again] = await transactions.rangeReads((read) => read.query<{ max_parallel_workers_per_gather: string }>(PARALLEL));
    expect(again.max_parallel_workers_per_gather).toBe('0');
  });
});
