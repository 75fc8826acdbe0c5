import { HOUR_MS, MINUTE_MS } from '../../server/src/audit/audit-rollup.entity';
import { AuditModule } from '../../server/src/audit/audit.module';
import { AuditService } from '../../server/src/audit/audit.service';
import { DashboardService, MAX_KEPT_TOOLS } from '../../server/src/audit/dashboard.service';
import { RollupInput, RollupWriter } from '../../server/src/audit/rollup-writer';
import { SettledHours } from '../../server/src/audit/settled-hours';
import { RangeReader, Transactions } from '../../server/src/database/transactions';
import { testEngine } from '../helpers/test-database';
import { createNestContext, NestContext } from './nest-context';

const DAY = 24 * HOUR_MS;
const NOW = Date.UTC(2030, 5, 10, 12, 30, 15);

/**
 * The console's windows of a day or more are whole hours, and the sums of their settled hours are
 * read once per hour of the clock (settled-hours.ts): the dashboard's cost then does not grow with
 * the audit log. The rollups are seeded with the writer the audit batches use.
 */
describe(`dashboard: settled hours kept (${testEngine()})`, () => {
  let ctx: NestContext;
  let transactions: Transactions;
  let dashboard: DashboardService;
  let settledHours: SettledHours;
  /** Rollup statements run by the dashboard since the last reset. */
  let statements = 0;

  const row = (at: number, upstreamSlug: string | undefined, tool?: string, outcome: 'success' | 'failure' = 'success'): RollupInput => ({
    at,
    type: upstreamSlug ? 'mcp.request' : 'login',
    outcome,
    upstreamSlug,
    tool,
    mcpMethod: tool ? 'tools/call' : undefined,
    durationMs: 5,
  });
  const seed = (rows: RollupInput[]) => transactions.run((tx) => new RollupWriter().countBatch(tx, rows));
  const counted = async <T>(work: () => Promise<T>): Promise<{ result: T; statements: number }> => {
    statements = 0;
    const result = await work();
    return { result, statements };
  };

  beforeAll(async () => {
    ctx = await createNestContext({ imports: [AuditModule] });
    transactions = ctx.app.get(Transactions);
    dashboard = ctx.app.get(DashboardService);
    settledHours = ctx.app.get(SettledHours);
    const rangeReads = transactions.rangeReads.bind(transactions);
    jest.spyOn(transactions, 'rangeReads').mockImplementation((work) =>
      rangeReads((read) =>
        work({
          query: <R>(sql: string, params?: unknown[], raw?: boolean) => {
            statements++;
            return read.query<R>(sql, params, raw);
          },
        } satisfies RangeReader),
      ),
    );
  });

  beforeEach(async () => {
    for (const table of ['audit_rollups', 'audit_tool_rollups', 'audit_counts']) await transactions.run((tx) => tx.execute(`DELETE FROM ${table}`, []));
    settledHours.forget();
  });

  afterAll(async () => {
    jest.restoreAllMocks();
    await ctx?.close();
    ctx?.cleanup();
  });

  it('reads the settled hours once per hour of the clock and the open hours at every read', async () => {
    await seed([
      row(NOW - 3 * DAY, 'notes', 'search'),
      row(NOW - 6 * HOUR_MS, 'notes', 'read'),
      row(NOW - 6 * HOUR_MS, 'files', 'read', 'failure'),
      row(NOW - MINUTE_MS, 'notes', 'search'),
      row(NOW - 2 * DAY, undefined, undefined, 'failure'),
      row(NOW - MINUTE_MS, undefined, undefined, 'failure'),
    ]);
    const first = await counted(() => dashboard.figures('7d', [], NOW));
    // Tools, failed sign-ins and traffic (2 statements), for the settled hours and for the open ones.
    expect(first.statements).toBe(8);
    expect(first.result.perUpstream.map((u) => [u.slug, u.requests, u.errors])).toEqual([
      ['notes', 3, 0],
      ['files', 1, 1],
    ]);
    expect(first.result.topTools).toEqual([
      { upstream: 'notes', tool: 'search', calls: 2 },
      { upstream: 'files', tool: 'read', calls: 1 },
      { upstream: 'notes', tool: 'read', calls: 1 },
    ]);
    expect(first.result.failedSignIns).toBe(2);
    expect(first.result.series.reduce((n, p) => n + p.requests, 0)).toBe(4);

    const again = await counted(() => dashboard.figures('7d', [], NOW));
    expect(again.statements).toBe(4);
    expect(again.result).toEqual(first.result);

    // A new row of the open hour is seen at once.
    await seed([row(NOW - 30_000, 'files', 'read')]);
    const open = await counted(() => dashboard.figures('7d', [], NOW));
    expect(open.statements).toBe(4);
    expect(open.result.perUpstream.map((u) => [u.slug, u.requests])).toEqual([
      ['notes', 3],
      ['files', 2],
    ]);
    expect(open.result.topTools[0]).toEqual({ upstream: 'files', tool: 'read', calls: 2 });

    // Settled hours are not read again: a row written into one (only retention changes them) is not
    // seen until the hour turns, or the kept sums are forgotten.
    await seed([row(NOW - 5 * HOUR_MS, 'files', 'list')]);
    expect((await dashboard.figures('7d', [], NOW)).perUpstream.find((u) => u.slug === 'files')?.requests).toBe(2);
    const turned = await counted(() => dashboard.figures('7d', [], NOW + HOUR_MS));
    expect(turned.statements).toBe(8);
    expect(turned.result.perUpstream.find((u) => u.slug === 'files')?.requests).toBe(3);
    // The same figures as a read of every hour afresh.
    settledHours.forget();
    expect(await dashboard.figures('7d', [], NOW + HOUR_MS)).toEqual(turned.result);
    expect((await dashboard.figures('7d', [], NOW)).perUpstream.find((u) => u.slug === 'files')?.requests).toBe(3);
  });

  it('the dashboard, the upstreams list and the tools page share the kept sums of a window; concurrent first reads compute them once', async () => {
    await seed([row(NOW - 6 * HOUR_MS, 'notes', 'read'), row(NOW - MINUTE_MS, 'notes', 'search'), row(NOW - 2 * HOUR_MS, 'files', 'read')]);
    const both = await counted(() => Promise.all([dashboard.figures('24h', [], NOW), dashboard.figures('24h', [], NOW)]));
    expect(both.statements).toBe(8 + 4);
    expect(both.result[1]).toEqual(both.result[0]);
    const list = await counted(() => dashboard.traffic('24h', NOW));
    expect(list.statements).toBe(4);
    expect(list.result.map((u) => [u.slug, u.requests])).toEqual([
      ['notes', 2],
      ['files', 1],
    ]);
    const tools = await counted(() => dashboard.tools('24h', { upstream: 'notes', limit: 10 }, NOW));
    expect(tools.statements).toBe(4);
    expect(tools.result.map((t) => [t.tool, t.calls, t.p50Ms])).toEqual([
      ['read', 1, expect.any(Number)],
      ['search', 1, expect.any(Number)],
    ]);
    // The last hour is counted to the minute, from the rollups each time.
    const lastHour = await counted(() => dashboard.tools('1h', { limit: 10 }, NOW));
    expect(lastHour.statements).toBe(1);
    expect(lastHour.result.map((t) => [t.upstream, t.tool])).toEqual([['notes', 'search']]);
  });

  it('a window with more tools than are kept is ranked by the database, with the same answer', async () => {
    // Made-up tool names in a settled hour (a client may call any name), two of them called more.
    const names = Array.from({ length: MAX_KEPT_TOOLS + 5 }, (_, i) => `made-up-${String(i).padStart(5, '0')}`);
    await seed(names.map((name) => row(NOW - 3 * HOUR_MS, 'notes', name)));
    await seed([row(NOW - 3 * HOUR_MS, 'notes', 'made-up-00007'), row(NOW - MINUTE_MS, 'notes', 'made-up-00007'), row(NOW - MINUTE_MS, 'files', 'busy')]);
    await seed([row(NOW - MINUTE_MS, 'files', 'busy'), row(NOW - MINUTE_MS, 'files', 'busy')]);
    const { result: figures, statements: read } = await counted(() => dashboard.figures('24h', [], NOW));
    // Not kept: the top tools are one more statement, ranked and limited by the database.
    expect(read).toBe(8 + 1);
    expect(figures.topTools.slice(0, 3)).toEqual([
      { upstream: 'files', tool: 'busy', calls: 3 },
      { upstream: 'notes', tool: 'made-up-00007', calls: 3 },
      { upstream: 'notes', tool: 'made-up-00000', calls: 1 },
    ]);
    expect(figures.topTools).toHaveLength(10);
    const notes = await dashboard.tools('24h', { upstream: 'notes', limit: 2 }, NOW);
    expect(notes.map((t) => [t.tool, t.calls])).toEqual([
      ['made-up-00007', 3],
      ['made-up-00000', 1],
    ]);
  });

  it('audit retention forgets the kept sums', async () => {
    await seed([row(NOW - 3 * HOUR_MS, 'notes', 'read')]);
    expect((await dashboard.figures('24h', [], NOW)).perUpstream[0].requests).toBe(1);
    await seed([row(NOW - 3 * HOUR_MS, 'notes', 'read')]);
    expect((await dashboard.figures('24h', [], NOW)).perUpstream[0].requests).toBe(1);
    // Nothing is old enough to go; the run still ends by forgetting.
    await ctx.app.get(AuditService).applyRetention(NOW);
    expect((await dashboard.figures('24h', [], NOW)).perUpstream[0].requests).toBe(2);
  });
});
