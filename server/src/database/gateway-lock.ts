import { existsSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { DATABASE_FILE } from './database.module';

/**
 * "A gateway runs on this data directory": commands that must not run beside one (restore, vault
 * rotate, user disable) ask runningGateway(). Two signs, either suffices:
 *  - DATA_DIR/gatehouse.lock holds the pid of a live process: written once the gateway has bound
 *    its port and opened the database, removed on a clean stop. A lock left by a crash names a
 *    dead pid and is ignored.
 *  - the database is open in another process: SQLite's own file lock, which the kernel drops when
 *    the process dies. It covers what a pid cannot, e.g. a gateway in another container (another
 *    pid namespace) on the same volume.
 */
export const LOCK_FILE = 'gatehouse.lock';

export interface RunningGateway {
  /** The gateway's pid, from the lock file; null when only the database showed it. */
  pid: number | null;
  /** One line for the operator: who holds the data directory. */
  description: string;
}

export function lockFilePath(dataDir: string): string {
  return join(dataDir, LOCK_FILE);
}

/** Records this process as the gateway on dataDir (replacing a stale lock). */
export function writeGatewayLock(dataDir: string): void {
  writeFileSync(lockFilePath(dataDir), `${process.pid}\n`, { mode: 0o600 });
}

/** Removes the lock if it is still this process's. */
export function removeGatewayLock(dataDir: string): void {
  try {
    if (lockPid(dataDir) === process.pid) unlinkSync(lockFilePath(dataDir));
  } catch {
    // already gone, or the directory is: nothing to release
  }
}

export function runningGateway(dataDir: string): RunningGateway | null {
  const pid = lockPid(dataDir);
  // Our own pid in the lock is a stale lock from an earlier process that had the same pid (e.g. pid 1 in a container).
  if (pid !== null && pid !== process.pid && isAlive(pid)) {
    return { pid, description: `a gateway (pid ${pid}) is running on data directory ${dataDir} (see ${lockFilePath(dataDir)})` };
  }
  if (databaseInUse(join(dataDir, DATABASE_FILE))) {
    return { pid: null, description: `the database ${join(dataDir, DATABASE_FILE)} is open in another process (a gateway running on data directory ${dataDir}?)` };
  }
  return null;
}

function lockPid(dataDir: string): number | null {
  try {
    const pid = Number(readFileSync(lockFilePath(dataDir), 'utf8').trim());
    return Number.isSafeInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, owned by another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Whether another connection has the database open. In WAL mode every open connection keeps a
 * shared lock on the database file, so an exclusive lock, tried without waiting, fails exactly
 * while one is open. Nothing is written, and the other connection is not disturbed (its reads
 * and writes go through the WAL and need no new lock on the file).
 */
export function databaseInUse(file: string): boolean {
  if (!existsSync(file)) return false;
  const db = new Database(file, { fileMustExist: true, timeout: 0 });
  try {
    db.pragma('locking_mode = EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE');
    db.exec('COMMIT');
    return false;
  } catch (err) {
    if ((err as { code?: string }).code === 'SQLITE_BUSY') return true;
    throw err;
  } finally {
    db.close();
  }
}
