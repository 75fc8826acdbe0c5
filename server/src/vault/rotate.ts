import { existsSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { AuditEventType } from '../audit/audit-event-type';
import { DATABASE_FILE } from '../database/database.module';
import {
  keyFilePath,
  keyMismatchMessage,
  MasterKeyError,
  MasterKeySource,
  promotePendingKey,
  readKeyFile,
  removeIfPresent,
  pendingKeyFilePath,
  stagePendingKey,
} from './master-key';
import { keyCheckPasses, keyIdOf, makeKeyCheck, openSecret, Sealed, sealSecret, SecretBinding, VaultDecryptError } from './vault-crypto';

export interface RotateOptions {
  /**
   * Where the old key came from. 'file': DATA_DIR/master.key is replaced by the new key once
   * the database has committed. 'env': no file is written; the caller hands the new key to the operator.
   * Default: 'file' when master.key holds the old key, else 'env'.
   */
  keySource?: MasterKeySource;
}

export interface RotationResult {
  oldKeyId: string;
  newKeyId: string;
  /** How many secrets were re-encrypted. */
  secrets: number;
  /** The key file that now holds the new key, or null when the key lives in the environment. */
  keyFile: string | null;
}

interface SecretRow {
  id: string;
  owner_type: string;
  owner_id: string;
  purpose: string;
  key_id: string;
  nonce: string;
  ciphertext: string;
  tag: string;
}

/**
 * Re-encrypts every vault secret under newKey, in one SQLite transaction: until it commits,
 * the database is entirely under oldKey; after, entirely under newKey. Runs on the database
 * file directly (no Nest) and must run while the gateway is stopped.
 *
 * With a file key, the new key is staged in master.key.new before the transaction and renamed
 * over master.key after it commits; a crash in between is finished by the next gateway start.
 */
export function rotateMasterKey(dataDir: string, oldKey: Buffer, newKey: Buffer, options: RotateOptions = {}): RotationResult {
  const oldKeyId = keyIdOf(oldKey);
  const newKeyId = keyIdOf(newKey);
  if (oldKeyId === newKeyId) throw new MasterKeyError('the new master key is the current one; nothing to rotate');
  const keySource = options.keySource ?? (keyFileHolds(dataDir, oldKeyId) ? 'file' : 'env');
  if (keySource === 'file' && !keyFileHolds(dataDir, oldKeyId)) {
    throw new MasterKeyError(`${keyFilePath(dataDir)} does not hold the master key being rotated (key id ${oldKeyId})`);
  }

  const db = openDatabase(dataDir);
  try {
    let secrets: number;
    try {
      if (keySource === 'file') stagePendingKey(dataDir, newKey);
      // IMMEDIATE takes the write lock up front, so nothing can change between the check and the writes.
      secrets = db
        .transaction(() => {
          verifyOldKey(db, dataDir, oldKey, keySource);
          return reencryptAll(db, oldKey, newKey);
        })
        .immediate();
    } catch (err) {
      // Rolled back: the database is still wholly under the old key, and master.key untouched.
      removeIfPresent(pendingKeyFilePath(dataDir));
      tryRecordFailure(db, { old_key_id: oldKeyId, new_key_id: newKeyId, error: (err as Error).message });
      throw err;
    }
    if (keySource === 'file') promoteAfterCommit(dataDir, newKeyId);
    // Move the re-encrypted pages out of the WAL so the old ciphertexts do not linger there.
    db.pragma('wal_checkpoint(TRUNCATE)');
    return { oldKeyId, newKeyId, secrets, keyFile: keySource === 'file' ? keyFilePath(dataDir) : null };
  } finally {
    db.close();
  }
}

/** Thrown when the database committed under the new key but master.key could not be replaced. */
export class KeyFileUpdateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeyFileUpdateError';
  }
}

function promoteAfterCommit(dataDir: string, newKeyId: string): void {
  try {
    promotePendingKey(dataDir);
  } catch (err) {
    throw new KeyFileUpdateError(
      `the database is now sealed with master key id ${newKeyId}, but ${pendingKeyFilePath(dataDir)} could not be moved to ` +
        `${keyFilePath(dataDir)} (${(err as Error).message}); move it by hand, or start the gateway, which finishes the move`,
    );
  }
}

function openDatabase(dataDir: string): Database.Database {
  const file = join(dataDir, DATABASE_FILE);
  if (!existsSync(file)) throw new MasterKeyError(`no Gatehouse database at ${file}; check DATA_DIR`);
  const db = new Database(file, { fileMustExist: true });
  db.pragma('busy_timeout = 5000');
  // Overwrite freed cells, so replaced ciphertexts do not stay readable in free pages.
  db.pragma('secure_delete = ON');
  return db;
}

/** The same check the gateway makes at start: the old key must be the one the vault is sealed with. */
function verifyOldKey(db: Database.Database, dataDir: string, oldKey: Buffer, keySource: MasterKeySource): void {
  const hasVault = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'vault_keys'").get();
  const stored = hasVault ? (db.prepare('SELECT key_id, nonce, ciphertext, tag FROM vault_keys').all() as ({ key_id: string } & Sealed)[]) : [];
  if (!stored.length) throw new MasterKeyError('this database has no vault key yet; start the gateway once before rotating');
  const oldKeyId = keyIdOf(oldKey);
  const check = stored.find((k) => k.key_id === oldKeyId);
  if (!check || !keyCheckPasses(oldKey, check)) {
    const given = { key: oldKey, id: oldKeyId, source: keySource, file: keyFilePath(dataDir), warning: null };
    const storedIds = stored.map((k) => k.key_id);
    throw new MasterKeyError(keyMismatchMessage(dataDir, storedIds, given));
  }
}

/** Runs inside the transaction; any throw rolls everything back. */
function reencryptAll(db: Database.Database, oldKey: Buffer, newKey: Buffer): number {
  const oldKeyId = keyIdOf(oldKey);
  const newKeyId = keyIdOf(newKey);
  const rows = db.prepare('SELECT id, owner_type, owner_id, purpose, key_id, nonce, ciphertext, tag FROM vault_secrets ORDER BY created_at, id').all() as SecretRow[];
  // updated_at is left alone: it records when the value was last set, which a rotation does not change.
  const update = db.prepare('UPDATE vault_secrets SET key_id = ?, nonce = ?, ciphertext = ?, tag = ? WHERE id = ?');
  for (const row of rows) {
    const binding: SecretBinding & Sealed = {
      id: row.id,
      ownerType: row.owner_type,
      ownerId: row.owner_id,
      purpose: row.purpose,
      nonce: row.nonce,
      ciphertext: row.ciphertext,
      tag: row.tag,
    };
    if (row.key_id !== oldKeyId) {
      throw new VaultDecryptError(
        `vault secret ${row.id} (${row.owner_type} ${row.owner_id}, purpose ${row.purpose}) is sealed under key id ${row.key_id}, not the key being rotated (${oldKeyId})`,
      );
    }
    const sealed = sealSecret(newKey, binding, openSecret(oldKey, binding));
    update.run(newKeyId, sealed.nonce, sealed.ciphertext, sealed.tag, row.id);
  }
  db.prepare('DELETE FROM vault_keys').run();
  const check = makeKeyCheck(newKey);
  db.prepare('INSERT INTO vault_keys (key_id, nonce, ciphertext, tag, created_at) VALUES (?, ?, ?, ?, ?)').run(newKeyId, check.nonce, check.ciphertext, check.tag, Date.now());
  recordAudit(db, 'success', { old_key_id: oldKeyId, new_key_id: newKeyId, secrets: rows.length });
  return rows.length;
}

/** Same shape AuditService writes; key ids and counts only. */
function recordAudit(db: Database.Database, outcome: 'success' | 'failure', detail: Record<string, unknown>): void {
  const type: AuditEventType = 'vault.rotate';
  db.prepare('INSERT INTO audit_events (at, type, outcome, detail) VALUES (?, ?, ?, ?)').run(Date.now(), type, outcome, JSON.stringify(detail));
}

/** Best effort: a failure to audit (e.g. the database is locked) must not hide the rotation's own error. */
function tryRecordFailure(db: Database.Database, detail: Record<string, unknown>): void {
  try {
    recordAudit(db, 'failure', detail);
  } catch {
    // the original error is what the operator needs to see
  }
}

function keyFileHolds(dataDir: string, keyId: string): boolean {
  return readKeyFile(keyFilePath(dataDir))?.id === keyId;
}
