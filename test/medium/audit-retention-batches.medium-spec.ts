import type BetterSqlite3 from 'better-sqlite3';
import { MINUTE_MS } from '../../server/src/audit/audit-rollup.entity';
import { AuditModule } from '../../server/src/audit/audit.module';
import { AuditService, RETENTION_BATCH } from '../../server/src/audit/audit.service';
import { Transactions } from '../../server/src/database/transactions';
import { testEngine } from '../helpers/test-database';
import { createNestContext, NestContext } from './nest-context';

const DAY = 24 * 3_600_000;
const RETENTION_DAYS = 90;
const OLD_ROWS = 10 * RETENTION_BATCH + 7;
const OLD_COUNTS = 3 * RETENTION_BATCH + 1;

/** Rows (and audit_counts buckets) from before the retention window, written straight to the file. */
function seedExpired(db: BetterSqlite3.Database, now: number): void {
  const old = now - (RETENTION_DAYS + 5) * DAY;
  const insert = db.prepare("INSERT INTO audit_events (at, type, outcome, upstream_slug) VALUES (?, 'mcp.request', 'success', 'u')");
  const count = db.prepare("INSERT INTO audit_counts (type, outcome, start_at, count) VALUES ('mcp.request', 'success', ?, 1)");
  db.transaction(() => {
    for (let i = 0; i < OLD_ROWS; i++) insert.run(old + i);
    for (let i = 0; i < OLD_COUNTS; i++) count.run(old + i * MINUTE_MS);
  })();
}

const countOld = (db: BetterSqlite3.Database, cutoff: number) => (db.prepare('SELECT COUNT(*) AS n FROM audit_events WHERE at < ?').get(cutoff) as { n: number }).n;

// SQLite only: the batches exist because SQLite's synchronous connection holds the event loop for a
// whole DELETE (PostgreSQL's runs on the server); the test seeds and reads through that connection.
(testEngine() === 'sqlite' ? describe : describe.skip)('audit retention in small batches', () => {
  let ctx: NestContext;
  let audit: AuditService;
  let db: BetterSqlite3.Database;

  beforeEach(async () => {
    ctx = await createNestContext({ imports: [AuditModule], config: { audit: { retention_days: RETENTION_DAYS } } });
    audit = ctx.app.get(AuditService);
    db = ctx.app.get(Transactions).db;
  });

  afterEach(async () => {
    await ctx.close();
    ctx.cleanup();
  });

  it('deletes expired rows batch by batch, letting other work (new audit rows, reads) run between batches', async () => {
    const now = Date.now();
    const cutoff = now - RETENTION_DAYS * DAY;
    seedExpired(db, now);

    const seenBetweenBatches: number[] = [];
    let done = false;
    const retention = audit.applyRetention(now).finally(() => (done = true));
    // Work queued behind the retention: each turn of the event loop it gets, it reads how many
    // expired rows are left and writes an audit row, as a proxied request would.
    while (!done) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (done) break;
      seenBetweenBatches.push(countOld(db, cutoff));
      audit.record({ type: 'mcp.request', outcome: 'success', upstreamSlug: 'u', mcpMethod: 'tools/call', tool: 'echo', durationMs: 1 });
      await audit.flush();
    }

    expect(await retention).toBe(OLD_ROWS);
    expect(countOld(db, cutoff)).toBe(0);
    // One DELETE would have left nothing to see in between: the batches did.
    const partial = seenBetweenBatches.filter((n) => n > 0 && n < OLD_ROWS);
    expect(partial.length).toBeGreaterThanOrEqual(Math.floor(OLD_ROWS / RETENTION_BATCH) - 1);
    expect(partial.every((n) => (OLD_ROWS - n) % RETENTION_BATCH === 0)).toBe(true);
    // The rows written in between are within retention and were kept; the expired rollups went too.
    expect((db.prepare("SELECT COUNT(*) AS n FROM audit_events WHERE tool = 'echo'").get() as { n: number }).n).toBe(seenBetweenBatches.length);
    expect((db.prepare('SELECT COUNT(*) AS n FROM audit_counts WHERE start_at < ?').get(cutoff) as { n: number }).n).toBe(0);
  });

  it('joins a run already going instead of starting a second one', async () => {
    const now = Date.now();
    seedExpired(db, now);
    const first = audit.applyRetention(now);
    const second = audit.applyRetention(now);
    expect(second).toBe(first);
    expect(await second).toBe(OLD_ROWS);
    expect(await audit.applyRetention(now)).toBe(0);
  });

  it('a stop during a run ends it after the current batch, with no error, and the next run deletes the rest', async () => {
    const now = Date.now();
    const cutoff = now - RETENTION_DAYS * DAY;
    seedExpired(db, now);
    const retention = audit.applyRetention(now);
    await new Promise<void>((resolve) => setImmediate(resolve));
    const dataDir = ctx.dataDir;
    await ctx.close();
    const deleted = await retention;
    expect(deleted).toBeGreaterThan(0);
    expect(deleted).toBeLessThan(OLD_ROWS);

    ctx = await createNestContext({ imports: [AuditModule], dataDir, config: { audit: { retention_days: RETENTION_DAYS } } });
    db = ctx.app.get(Transactions).db;
    // The start ran retention again: every expired row is gone.
    expect(countOld(db, cutoff)).toBe(0);
  });
});
