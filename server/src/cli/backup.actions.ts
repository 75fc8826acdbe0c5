import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { dataDirProblem } from '../database/data-dir';
import { DATABASE_FILE } from '../database/database.module';
import { MIGRATIONS } from '../database/migrations';
import { findMasterKey, keyFilePath, MASTER_KEY_ENV, removeIfPresent } from '../vault/master-key';
import { CliError, commandConfig, dataDirOf, EXIT, refuseWhileRunning, say } from './common';

/**
 * `gatehouse backup <file>` and `gatehouse restore <file>`.
 *
 * A backup is taken with SQLite's online backup API (better-sqlite3's db.backup) while the gateway
 * runs: every page is copied in one step, inside one read transaction, so the copy is one
 * consistent moment of the database however busy the gateway is (WAL mode lets it keep writing).
 * The file is written under a temporary name and renamed when complete and checked.
 *
 * The vault's master key is not in the database: without it the upstream secrets in a backup
 * cannot be read and a gateway restored from it does not start. Both commands say so.
 */
export async function runBackup(file: string, opts: { force?: boolean; dataDir?: string }): Promise<void> {
  const dataDir = dataDirOf(sqliteOnly(commandConfig(opts), 'backup', 'pg_dump'));
  const database = join(dataDir, DATABASE_FILE);
  if (!existsSync(database)) throw new CliError(`no Gatehouse database at ${database}; pass --data-dir or set DATA_DIR`);
  const target = resolve(file);
  if (target === database) throw new CliError('the backup cannot be the database itself; choose another file');
  if (existsSync(target) && !opts.force) throw new CliError(`${target} already exists; choose another file or pass --force to overwrite it`);
  if (!existsSync(dirname(target))) throw new CliError(`directory ${dirname(target)} does not exist`);

  const partial = join(dirname(target), `.${basename(target)}.partial-${process.pid}`);
  // The copy holds password and token hashes and sealed secrets: readable by its owner only, from the first byte.
  writeFileSync(partial, '', { mode: 0o600, flag: 'wx' });
  try {
    const source = new Database(database, { fileMustExist: true, timeout: 5000 });
    try {
      // The first step only learns the size; the progress answer makes the next step copy every page at once.
      await source.backup(partial, { progress: () => 0x7fffffff });
    } finally {
      source.close();
    }
    selfContained(partial);
    const summary = checkCopy(partial, 'the backup just written');
    syncFile(partial);
    renameSync(partial, target);
    say(`Backed up ${database} to ${target} (${kib(statSync(target).size)}; ${summary.text}).`);
    say(masterKeyReminder(dataDir, summary.vaultKeyIds));
  } catch (err) {
    removeIfPresent(partial);
    if (err instanceof CliError) throw err;
    throw new CliError(`backup failed, nothing was written to ${target}: ${(err as Error).message}`);
  }
}

export async function runRestore(file: string, opts: { dataDir?: string }): Promise<void> {
  const dataDir = dataDirOf(sqliteOnly(commandConfig(opts), 'restore', 'pg_restore (with every replica stopped)'));
  const source = resolve(file);
  if (!existsSync(source)) throw new CliError(`${source} does not exist`);
  refuseWhileRunning(dataDir, 'restore', 'stop the gateway first (e.g. docker compose stop gatehouse), then restore');
  const summary = checkCopy(source, source);

  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const problem = dataDirProblem(dataDir);
  if (problem) throw new CliError(problem, EXIT.usage);
  const database = join(dataDir, DATABASE_FILE);
  const incoming = join(dataDir, `${DATABASE_FILE}.restoring-${process.pid}`);
  writeFileSync(incoming, '', { mode: 0o600, flag: 'wx' });
  let keptAs: string | null = null;
  try {
    // Through SQLite rather than a file copy: a source with its own -wal file is read whole.
    const from = new Database(source, { readonly: true, fileMustExist: true });
    try {
      await from.backup(incoming, { progress: () => 0x7fffffff });
    } finally {
      from.close();
    }
    syncFile(incoming);
    if (existsSync(database)) keptAs = setAside(database);
    // A -wal or -shm left here belongs to the database set aside; replayed onto the restored one it would corrupt it.
    removeIfPresent(`${database}-wal`);
    removeIfPresent(`${database}-shm`);
    renameSync(incoming, database);
    syncDir(dataDir);
  } catch (err) {
    removeIfPresent(incoming);
    throw new CliError(`restore failed: ${(err as Error).message}${keptAs ? `; the previous database is ${keptAs}` : ''}`);
  }
  say(`Restored ${source} into ${database} (${summary.text}).`);
  if (keptAs) say(`The previous database is kept as ${keptAs}; delete it once the restored gateway works.`);
  say(masterKeyStatus(dataDir, summary.vaultKeyIds));
}

interface CopySummary {
  text: string;
  vaultKeyIds: string[];
}

/** The copy inherits WAL mode from the database; in rollback mode it is one file, with no -wal or -shm beside it. */
function selfContained(file: string): void {
  const db = new Database(file, { fileMustExist: true });
  try {
    db.pragma('journal_mode = DELETE');
  } finally {
    db.close();
  }
}

/** Opens a copy read-only and checks it is a whole Gatehouse database this version can run. */
function checkCopy(file: string, name: string): CopySummary {
  // Reading a file in WAL mode makes SQLite create -wal and -shm beside it: remove them if they were not there.
  const litter = [`${file}-wal`, `${file}-shm`].filter((f) => !existsSync(f));
  try {
    return inspectCopy(file, name);
  } finally {
    litter.forEach((f) => removeIfPresent(f));
  }
}

function inspectCopy(file: string, name: string): CopySummary {
  let db: Database.Database;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
  } catch (err) {
    throw new CliError(`${name} cannot be opened: ${(err as Error).message}`);
  }
  try {
    let tables: Set<string>;
    try {
      tables = new Set((db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((t) => t.name));
    } catch (err) {
      throw new CliError(`${name} is not a Gatehouse database (${(err as Error).message})`);
    }
    if (!tables.has('migrations') || !tables.has('users')) throw new CliError(`${name} is not a Gatehouse database (it has no migrations or users table)`);
    const integrity = db.pragma('integrity_check', { simple: true });
    if (integrity !== 'ok') throw new CliError(`${name} is damaged (SQLite integrity check: ${String(integrity)})`);
    const known = new Set(MIGRATIONS.map((m) => new m().name ?? m.name));
    const unknown = (db.prepare('SELECT name FROM migrations').all() as { name: string }[]).map((m) => m.name).filter((m) => !known.has(m));
    if (unknown.length) throw new CliError(`${name} was written by a newer Gatehouse (migration ${unknown.join(', ')} unknown here); upgrade Gatehouse first`);
    const count = (table: string, where = '') => (tables.has(table) ? (db.prepare(`SELECT COUNT(*) AS n FROM ${table} ${where}`).get() as { n: number }).n : 0);
    const vaultKeyIds = tables.has('vault_keys') ? (db.prepare('SELECT key_id FROM vault_keys').all() as { key_id: string }[]).map((k) => k.key_id) : [];
    return { text: `${count('users')} user(s), ${count('upstreams')} upstream(s), ${count('grants', 'WHERE revoked_at IS NULL')} live grant(s)`, vaultKeyIds };
  } finally {
    db.close();
  }
}

function masterKeyReminder(dataDir: string, keyIds: string[]): string {
  const id = keyIds.length ? ` (key id ${keyIds.join(', ')})` : '';
  let where: string;
  try {
    const key = findMasterKey(dataDir);
    where = key?.source === 'env' ? `the value of ${MASTER_KEY_ENV}` : keyFilePath(dataDir);
  } catch {
    where = `${MASTER_KEY_ENV} or ${keyFilePath(dataDir)}`;
  }
  return (
    `Reminder: the backup does not contain the vault's master key${id}, and is useless without it: a gateway restored from it ` +
    `needs the same key to start and to read the upstream secrets. Keep a copy of ${where} with the backup, stored apart from it.`
  );
}

function masterKeyStatus(dataDir: string, keyIds: string[]): string {
  if (!keyIds.length) return 'The restored database has no vault key yet; the gateway creates one at its next start.';
  const ids = keyIds.join(', ');
  let key;
  try {
    key = findMasterKey(dataDir);
  } catch (err) {
    return `Warning: the master key cannot be read (${(err as Error).message}); the restored vault needs key id ${ids}.`;
  }
  const fix = `put the key the backup was made with in ${keyFilePath(dataDir)} (mode 0600) or in ${MASTER_KEY_ENV} before starting the gateway`;
  if (!key) return `Warning: no master key here; the restored vault needs key id ${ids}: ${fix}.`;
  const from = key.source === 'env' ? MASTER_KEY_ENV : key.file;
  if (!keyIds.includes(key.id))
    return `Warning: the master key in ${from} (key id ${key.id}) is not the restored vault's (key id ${ids}): ${fix}; else the gateway refuses to start.`;
  return `The master key in ${from} matches the restored vault (key id ${key.id}). Start the gateway to use it.`;
}

/** Renames the current database (after folding its WAL into it) to gatehouse.db.before-restore-<time>. */
function setAside(database: string): string {
  try {
    const db = new Database(database, { fileMustExist: true, timeout: 5000 });
    try {
      db.pragma('wal_checkpoint(TRUNCATE)');
    } finally {
      db.close();
    }
  } catch {
    // A damaged database (perhaps why it is being restored) is set aside as it is.
  }
  const aside = `${database}.before-restore-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  renameSync(database, aside);
  return aside;
}

function syncFile(file: string): void {
  const fd = openSync(file, 'r+');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Makes the renames durable; best effort, since not every platform can fsync a directory. */
function syncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // the renames themselves are atomic
  }
}

function kib(bytes: number): string {
  return bytes < 1024 * 1024 ? `${Math.ceil(bytes / 1024)} KiB` : `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** backup and restore copy the SQLite file; with database.url the data is in PostgreSQL, whose own tools do this. */
function sqliteOnly<C extends { database: { url?: string } }>(config: C, command: string, instead: string): C {
  if (config.database.url)
    throw new CliError(`gatehouse ${command} works on the embedded SQLite database; with database.url (PostgreSQL) use ${instead}, and keep the master key apart`, EXIT.usage);
  return config;
}
