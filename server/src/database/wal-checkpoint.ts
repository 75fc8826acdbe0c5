import { statSync } from 'node:fs';
import type BetterSqlite3 from 'better-sqlite3';
import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { DataSource } from 'typeorm';

/**
 * The most the SQLite write-ahead log keeps on disk once it is reset (`PRAGMA journal_size_limit`,
 * https://sqlite.org/pragma.html#pragma_journal_size_limit): without it the -wal file stays as big
 * as the largest burst of writes it ever held (a bulk import, a retention run) for good.
 */
export const WAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024;
/** How often the log is checkpointed and truncated besides SQLite's own automatic (PASSIVE) checkpoints. */
export const WAL_CHECKPOINT_EVERY_MS = 5 * 60_000;

/** Sets the WAL cap on a connection as it opens (DatabaseModule's prepareDatabase). SQLite only. */
export function limitWalSize(db: BetterSqlite3.Database): void {
  db.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT_BYTES}`);
}

/**
 * Every WAL_CHECKPOINT_EVERY_MS (an unref'd timer), copies the log into the database and truncates
 * it to zero bytes (`PRAGMA wal_checkpoint(TRUNCATE)`, https://sqlite.org/pragma.html#pragma_wal_checkpoint),
 * so the data directory does not grow while readers (e.g. a long export) kept the automatic
 * checkpoints from finishing. It never waits: while another connection (a backup, another process)
 * holds the log, this round is skipped (SQLITE_BUSY) and the next one tries again. Does nothing on
 * other engines (PostgreSQL manages its own WAL).
 */
@Injectable()
export class WalCheckpoint implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Database');
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly dataSource: DataSource) {}

  onApplicationBootstrap(): void {
    if (!this.db) return;
    this.timer = setInterval(() => this.checkpoint(), WAL_CHECKPOINT_EVERY_MS);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Checkpoints and truncates the log; returns the -wal file's size afterwards (null: not SQLite, or busy this round). */
  checkpoint(): number | null {
    const db = this.db;
    if (!db?.open) return null;
    // busy_timeout would make a TRUNCATE checkpoint wait (synchronously, holding the event loop)
    // for other connections' readers: try once instead, and restore it for the requests.
    const timeout = db.pragma('busy_timeout', { simple: true }) as number;
    try {
      db.pragma('busy_timeout = 0');
      const [result] = db.pragma('wal_checkpoint(TRUNCATE)') as Array<{ busy: number }>;
      if (result?.busy) return null;
      return walBytes(db.name);
    } catch (err) {
      this.logger.warn(`WAL checkpoint skipped: ${(err as Error).message}`);
      return null;
    } finally {
      db.pragma(`busy_timeout = ${timeout}`);
    }
  }

  private get db(): BetterSqlite3.Database | null {
    if (this.dataSource.options.type !== 'better-sqlite3') return null;
    return (this.dataSource.driver as unknown as { databaseConnection?: BetterSqlite3.Database }).databaseConnection ?? null;
  }
}

function walBytes(dbFile: string): number {
  try {
    return statSync(`${dbFile}-wal`).size;
  } catch {
    return 0;
  }
}
