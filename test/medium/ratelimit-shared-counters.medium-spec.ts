import { RateLimiter, WINDOW_MS } from '../../server/src/proxy/rate-limiter';
import { RateLimitModule } from '../../server/src/rate-limit/rate-limit.module';
import { SharedCounters } from '../../server/src/rate-limit/shared-counters.service';
import { testEngine } from '../helpers/test-database';
import { createNestContext, NestContext } from './nest-context';

/** SharedCounters against the real database of the test matrix (GATEHOUSE_TEST_DB). */
describe(`shared rate-limit counters (${testEngine()})`, () => {
  const contexts: NestContext[] = [];
  afterAll(async () => {
    for (const c of contexts.reverse()) await c.close();
    contexts[0]?.cleanup();
  });

  const rowsOf = (ctx: NestContext) => ctx.db.query<Array<{ key: string; count: number | string }>>('SELECT key, window_start, count FROM rate_limit_counters');
  /** Two rounds: the first may be one the timer had started before the last take(). */
  const flush = async (counters: SharedCounters) => {
    await counters.sync();
    await counters.sync();
  };

  if (testEngine() === 'sqlite') {
    it('on SQLite (one process) nothing is shared and nothing is written', async () => {
      const ctx = await createNestContext({ imports: [RateLimitModule] });
      contexts.push(ctx);
      const counters = ctx.app.get(SharedCounters);
      expect(counters.shared).toBe(false);
      const limiter = new RateLimiter(5);
      counters.share('mcp', limiter);
      for (let i = 0; i < 5; i++) expect(limiter.take('alice:u')).toBe(0);
      expect(limiter.drain(0)).toEqual([]);
      await counters.sync();
      expect(await rowsOf(ctx)).toEqual([]);
    });
    return;
  }

  it('two gateways on one PostgreSQL, synced between requests, admit the limit once in total', async () => {
    const a = await createNestContext({ imports: [RateLimitModule] });
    contexts.push(a);
    const b = await createNestContext({ imports: [RateLimitModule], dataDir: a.dataDir }); // the same database
    contexts.push(b);
    const [ca, cb] = [a.app.get(SharedCounters), b.app.get(SharedCounters)];
    const [la, lb] = [new RateLimiter(20), new RateLimiter(20)];
    ca.share('mcp', la);
    cb.share('mcp', lb);

    let admitted = 0;
    for (let i = 0; i < 40; i++) {
      const [limiter, counters] = i % 2 ? [lb, cb] : [la, ca];
      if (limiter.take('alice:u') === 0) admitted++;
      await flush(counters);
    }
    // Plus what refilled meanwhile (20 a minute) and one request the other had not told yet.
    expect(admitted).toBeGreaterThanOrEqual(20);
    expect(admitted).toBeLessThanOrEqual(23);
    const rows = (await rowsOf(a)).filter((r) => r.key === 'mcp:alice:u');
    expect(rows.reduce((sum, r) => sum + Number(r.count), 0)).toBe(admitted);
    // Another key is untouched.
    expect(la.take('bob:u')).toBe(0);
  });

  it('counts sign-in attempts exactly, and purges minutes no limiter reads any more', async () => {
    const [a, b] = contexts;
    const [ca, cb] = [a.app.get(SharedCounters), b.app.get(SharedCounters)];
    const key = `login:198.51.100.${Math.floor(Math.random() * 200)}`;
    expect((await ca.addNow(key, 60_000)).current).toBe(1);
    expect((await cb.addNow(key, 60_000)).current).toBe(2);
    expect((await ca.addNow(key, 60_000)).current).toBe(3);

    const window = Math.floor(Date.now() / WINDOW_MS) * WINDOW_MS;
    await a.db.query('INSERT INTO rate_limit_counters (key, window_start, count) VALUES ($1, $2, 7)', ['mcp:old', window - 3 * WINDOW_MS]);
    // The next minute's first round purges (the purge runs once a minute, at the first round of each).
    await cb.sync(window + WINDOW_MS);
    expect((await rowsOf(a)).map((r) => r.key)).not.toContain('mcp:old');
  });

  it.each([
    ['the purge of old minutes', 'DELETE FROM rate_limit_counters WHERE window_start < $1', [0]],
    ['the totals of watched keys', 'SELECT key, window_start, count FROM rate_limit_counters WHERE key IN ($1, $2) AND window_start >= $3', ['mcp:a', 'mcp:b', 0]],
    [
      "a sync's upsert and its read of the previous minute",
      `INSERT INTO rate_limit_counters (key, window_start, count) VALUES ($1, $2, $3)
       ON CONFLICT (key, window_start) DO UPDATE SET count = rate_limit_counters.count + excluded.count
       RETURNING key, count, (SELECT p.count FROM rate_limit_counters p WHERE p.key = rate_limit_counters.key AND p.window_start = $4) AS previous`,
      ['mcp:a', 60_000, 1, 0],
    ],
  ])('%s finds its rows through an index, never by reading the whole table', async (_name, sql, params) => {
    // Without statistics the planner may prefer a scan of a small table: forbidding it shows whether an index can answer.
    const runner = contexts[0].db.createQueryRunner();
    try {
      await runner.query('BEGIN');
      await runner.query('SET LOCAL enable_seqscan = off');
      const plan = ((await runner.query(`EXPLAIN ${sql}`, params)) as Array<{ 'QUERY PLAN': string }>).map((r) => r['QUERY PLAN']).join('\n');
      expect(plan).not.toContain('Seq Scan');
      await runner.query('ROLLBACK');
    } finally {
      await runner.release();
    }
  });
});
