import { accessSync, constants, existsSync } from 'node:fs';
import type BetterSqlite3 from 'better-sqlite3';
import type { Transactions } from '../database/transactions';

/**
 * Why the gateway could not write its database now, or null when it can. An open connection keeps
 * writing to a file whose permissions changed under it until the next start, so the files are asked
 * too: the directory (SQLite creates its -wal, -shm and journal files there), the database file and
 * its WAL. access(2) also reports a file system remounted read-only (EROFS). Then a write lock is
 * taken and released on the gateway's own connection (BEGIN IMMEDIATE; ROLLBACK: nothing is written).
 */
export function databaseWriteProblem(db: BetterSqlite3.Database, file: string, dir: string): string | null {
  const notWritable = (path: string, what: string): string | null => {
    try {
      accessSync(path, constants.W_OK);
      return null;
    } catch (err) {
      return `${what} is not writable (${(err as NodeJS.ErrnoException).code ?? 'error'})`;
    }
  };
  const problem =
    notWritable(dir, 'the data directory') ?? notWritable(file, 'the database file') ?? (existsSync(`${file}-wal`) ? notWritable(`${file}-wal`, 'the database WAL file') : null);
  if (problem) return problem;
  if (!db.open) return 'the database connection is closed';
  // A transaction is open on the connection (a write in progress): the database takes writes.
  if (db.inTransaction) return null;
  // Not the usual 5 s busy wait: this runs on the event loop, and a lock held by another process
  // (a backup, the vault rotation command) means the database is writable, only busy.
  const busyTimeout = db.pragma('busy_timeout', { simple: true }) as number;
  db.pragma('busy_timeout = 0');
  try {
    db.exec('BEGIN IMMEDIATE');
    db.exec('ROLLBACK');
    return null;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'SQLITE_BUSY') return null;
    return `a write transaction could not start (${code ?? (err as Error).message})`;
  } finally {
    db.pragma(`busy_timeout = ${Number(busyTimeout) || 0}`);
  }
}

/**
 * PostgreSQL's answer to the same question: the server answers a query (a connection from the
 * pool) and its transactions may write (not a hot standby, not default_transaction_read_only).
 */
export async function postgresWriteProblem(transactions: Transactions): Promise<string | null> {
  const [row] = await transactions.query<{ ro: string }>("SELECT current_setting('transaction_read_only') AS ro");
  return row?.ro === 'on' ? 'the database is read-only' : null;
}
