import { statSync } from 'node:fs';
import { join } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { AuditModule } from '../../server/src/audit/audit.module';
import { AuditService } from '../../server/src/audit/audit.service';
import { DATABASE_FILE } from '../../server/src/database/database.module';
import { Transactions } from '../../server/src/database/transactions';
import { WAL_SIZE_LIMIT_BYTES, WalCheckpoint } from '../../server/src/database/wal-checkpoint';
import { testEngine } from '../helpers/test-database';
import { createNestContext, NestContext } from './nest-context';

const DAY = 24 * 3_600_000;

/** One burst of writes bigger than the cap (about 1.25 × the cap of audit rows), as a bulk import or a long retention run makes. */
function writeBurst(db: BetterSqlite3.Database, at: number): void {
  const detail = JSON.stringify({ pad: 'x'.repeat(1000) });
  const insert = db.prepare("INSERT INTO audit_events (at, type, outcome, detail) VALUES (?, 'admin.user.rename', 'success', ?)");
  const rows = Math.ceil((1.25 * WAL_SIZE_LIMIT_BYTES) / 1024);
  db.transaction(() => {
    for (let i = 0; i < rows; i++) insert.run(at + i, detail);
  })();
}

// SQLite only: PostgreSQL manages its own write-ahead log.
(testEngine() === 'sqlite' ? describe : describe.skip)('the SQLite write-ahead log stays bounded', () => {
  let ctx: NestContext;
  let db: BetterSqlite3.Database;
  let walFile: string;
  const walSize = () => statSync(walFile).size;

  beforeEach(async () => {
    ctx = await createNestContext({ imports: [AuditModule] });
    db = ctx.app.get(Transactions).db;
    walFile = join(ctx.dataDir, `${DATABASE_FILE}-wal`);
  });

  afterEach(async () => {
    await ctx.close();
    ctx.cleanup();
  });

  it('the periodic checkpoint truncates the -wal file after heavy writes', () => {
    writeBurst(db, Date.now());
    expect(walSize()).toBeGreaterThan(WAL_SIZE_LIMIT_BYTES);
    const after = ctx.app.get(WalCheckpoint).checkpoint();
    expect(after).toBe(0);
    expect(walSize()).toBeLessThan(WAL_SIZE_LIMIT_BYTES);
    expect((db.prepare('SELECT COUNT(*) AS n FROM audit_events').get() as { n: number }).n).toBeGreaterThan(80_000);
  });

  it('between checkpoints, SQLite itself cuts the log back to the cap when it restarts it (journal_size_limit)', async () => {
    expect(db.pragma('journal_size_limit', { simple: true })).toBe(WAL_SIZE_LIMIT_BYTES);
    // Rows past retention: the deletes of the retention run are a second burst.
    writeBurst(db, Date.now() - 100 * DAY);
    expect(walSize()).toBeGreaterThan(WAL_SIZE_LIMIT_BYTES);
    expect(await ctx.app.get(AuditService).applyRetention()).toBeGreaterThan(80_000);
    // What SQLite does on its own: a PASSIVE checkpoint (as its automatic ones), then the next write restarts the log.
    db.pragma('wal_checkpoint(PASSIVE)');
    await ctx.app.get(AuditService).recordNow({ type: 'admin.user.rename', outcome: 'success' });
    expect(walSize()).toBeLessThanOrEqual(WAL_SIZE_LIMIT_BYTES);
  });
});
