import { MINUTE_MS } from '../../server/src/audit/audit-rollup.entity';
import { AuditModule } from '../../server/src/audit/audit.module';
import { AuditService, RETENTION_BATCH } from '../../server/src/audit/audit.service';
import { Transactions } from '../../server/src/database/transactions';
import { createNestContext, NestContext } from './nest-context';

const DAY = 24 * 3_600_000;
const RETENTION_DAYS = 90;
const OLD_ROWS = 10 * RETENTION_BATCH + 7;
const OLD_COUNTS = 3 * RETENTION_BATCH + 1;
/** Rows per seeding INSERT: a few hundred placeholders, well within either engine's limit. */
const SEED_CHUNK = 500;

/**
 * Audit retention on either engine (GATEHOUSE_TEST_DB=postgres runs it on PostgreSQL): expired rows
 * go in DELETEs of RETENTION_BATCH rows, each its own statement, so a long retention run never
 * holds one long transaction (on PostgreSQL: locks, and a single huge DELETE's WAL and dead
 * tuples) while requests write audit rows; and every batch runs until none is left. Seeded and
 * read through Transactions, in SQL both engines accept (audit-retention-batches covers SQLite's
 * turns of the event loop).
 */
describe('audit retention deletes in bounded batches on both engines', () => {
  let ctx: NestContext;
  let audit: AuditService;
  let transactions: Transactions;

  beforeEach(async () => {
    ctx = await createNestContext({ imports: [AuditModule], config: { audit: { retention_days: RETENTION_DAYS } } });
    audit = ctx.app.get(AuditService);
    transactions = ctx.app.get(Transactions);
  });

  afterEach(async () => {
    await ctx.close();
    ctx.cleanup();
  });

  async function seedExpired(now: number): Promise<void> {
    const old = now - (RETENTION_DAYS + 5) * DAY;
    await transactions.run(async (tx) => {
      for (let start = 0; start < OLD_ROWS; start += SEED_CHUNK) {
        const n = Math.min(SEED_CHUNK, OLD_ROWS - start);
        const values = Array.from({ length: n }, () => "(?, 'mcp.request', 'success', 'u')").join(', ');
        await tx.execute(
          `INSERT INTO audit_events (at, type, outcome, upstream_slug) VALUES ${values}`,
          Array.from({ length: n }, (_, i) => old + start + i),
        );
      }
      for (let start = 0; start < OLD_COUNTS; start += SEED_CHUNK) {
        const n = Math.min(SEED_CHUNK, OLD_COUNTS - start);
        const values = Array.from({ length: n }, () => "('mcp.request', 'success', ?, 1)").join(', ');
        await tx.execute(
          `INSERT INTO audit_counts (type, outcome, start_at, count) VALUES ${values}`,
          Array.from({ length: n }, (_, i) => old + (start + i) * MINUTE_MS),
        );
      }
    });
  }

  const count = async (sql: string, params: unknown[]) => Number((await transactions.query<{ n: number | string }>(sql, params))[0].n);

  it('deletes every expired row, RETENTION_BATCH rows per DELETE, while audit rows go on being written', async () => {
    const now = Date.now();
    const cutoff = now - RETENTION_DAYS * DAY;
    await seedExpired(now);
    expect(await count('SELECT COUNT(*) AS n FROM audit_events WHERE at < ?', [cutoff])).toBe(OLD_ROWS);

    const seen: number[] = [];
    let written = 0;
    let done = false;
    const retention = audit.applyRetention(now).finally(() => (done = true));
    // Work beside the retention, as the proxy's requests would do: read how many expired rows are
    // left (each DELETE commits on its own, so a reader sees the count go down batch by batch) and
    // write an audit row.
    while (!done) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      seen.push(await count('SELECT COUNT(*) AS n FROM audit_events WHERE at < ?', [cutoff]));
      audit.record({ type: 'mcp.request', outcome: 'success', upstreamSlug: 'u', mcpMethod: 'tools/call', tool: 'echo', durationMs: 1 });
      written++;
      await audit.flush();
    }

    expect(await retention).toBe(OLD_ROWS);
    expect(await count('SELECT COUNT(*) AS n FROM audit_events WHERE at < ?', [cutoff])).toBe(0);
    // One unbounded DELETE would show only "all" or "none" to a reader: the batches showed states in between, each a whole number of batches.
    const partial = seen.filter((n) => n > 0 && n < OLD_ROWS);
    expect(partial.length).toBeGreaterThan(0);
    expect(partial.filter((n) => (OLD_ROWS - n) % RETENTION_BATCH !== 0)).toEqual([]);
    // The rows written meanwhile are within retention and stay; the expired per-minute counts went too.
    expect(await count("SELECT COUNT(*) AS n FROM audit_events WHERE tool = 'echo'", [])).toBe(written);
    expect(await count('SELECT COUNT(*) AS n FROM audit_counts WHERE start_at < ?', [cutoff])).toBe(0);
  });
});
