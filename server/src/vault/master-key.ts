import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { keyIdOf } from './vault-crypto';

/**
 * Where the vault's master key comes from: GATEHOUSE_MASTER_KEY, else DATA_DIR/master.key
 * (created, mode 0600, on the first start). The key itself is never logged or put in an error.
 */

export const MASTER_KEY_ENV = 'GATEHOUSE_MASTER_KEY';
export const MASTER_KEY_FILE = 'master.key';
/** Holds the next key while a rotation commits; renamed over master.key once it has. */
export const PENDING_KEY_FILE = 'master.key.new';

const KEY_BYTES = 32;
const HEX_KEY = /^[0-9a-fA-F]{64}$/;
/** 32 bytes in standard or URL-safe base64, padded (44 chars) or not (43). */
const BASE64_KEY = /^[A-Za-z0-9+/_-]{43}=?$/;

export type MasterKeySource = 'env' | 'file';

export interface MasterKey {
  key: Buffer;
  /** keyIdOf(key): safe to print and store. */
  id: string;
  source: MasterKeySource;
  /** The key file, when source is 'file'. */
  file: string | null;
  /** Set when the key file is readable by its group: allowed, but worth telling the operator. */
  warning: string | null;
}

/** A start-up problem with the master key; its message is meant for the operator as is. */
export class MasterKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MasterKeyError';
  }
}

export function generateMasterKey(): Buffer {
  return randomBytes(KEY_BYTES);
}

/** The form the key is written in (master.key, the rotation command's output). */
export function encodeMasterKey(key: Buffer): string {
  return key.toString('base64');
}

/** Accepts 32 bytes as 64 hex characters or base64; `from` names the source in the error. */
export function parseMasterKey(text: string, from: string): Buffer {
  const value = text.trim();
  let key: Buffer | null = null;
  if (HEX_KEY.test(value)) key = Buffer.from(value, 'hex');
  // Buffer.from(…, 'base64') skips characters it does not know, so check the shape first.
  else if (BASE64_KEY.test(value)) key = Buffer.from(value.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  if (!key || key.length !== KEY_BYTES) {
    throw new MasterKeyError(
      `${from} is not a valid master key: it must be 32 bytes written as base64 (44 characters) or hex (64 characters); generate one with \`openssl rand -base64 32\``,
    );
  }
  return key;
}

export function keyFilePath(dataDir: string): string {
  return join(dataDir, MASTER_KEY_FILE);
}

export function pendingKeyFilePath(dataDir: string): string {
  return join(dataDir, PENDING_KEY_FILE);
}

/** The configured key: GATEHOUSE_MASTER_KEY if set, else an existing DATA_DIR/master.key, else null. */
export function findMasterKey(dataDir: string, env: NodeJS.ProcessEnv = process.env): MasterKey | null {
  const fromEnv = env[MASTER_KEY_ENV];
  if (fromEnv !== undefined && fromEnv !== '') {
    const key = parseMasterKey(fromEnv, MASTER_KEY_ENV);
    return { key, id: keyIdOf(key), source: 'env', file: null, warning: null };
  }
  const file = keyFilePath(dataDir);
  const key = readKeyFile(file);
  return key && { ...key, source: 'file', file };
}

/**
 * Creates DATA_DIR/master.key (mode 0600) with a new random key. 'wx' never overwrites:
 * if another process created it first, that key is read and used instead.
 */
export function createMasterKeyFile(dataDir: string): MasterKey {
  const file = keyFilePath(dataDir);
  const key = generateMasterKey();
  try {
    writeKeyFile(file, key, 'wx');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const existing = readKeyFile(file)!;
    return { ...existing, source: 'file', file };
  }
  return { key, id: keyIdOf(key), source: 'file', file, warning: null };
}

/** Reads a key file, refusing one that other users can read; null when it does not exist. */
export function readKeyFile(file: string): { key: Buffer; id: string; warning: string | null } | null {
  let mode: number;
  try {
    mode = statSync(file).mode & 0o777;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  let warning: string | null = null;
  // POSIX permissions only; Windows reports synthetic modes.
  if (process.platform !== 'win32') {
    const octal = mode.toString(8).padStart(3, '0');
    if (mode & 0o007) {
      throw new MasterKeyError(`${file} is accessible to every user on this machine (mode ${octal}); run \`chmod 600 ${file}\` and start again`);
    }
    if (mode & 0o070) warning = `${file} is readable by its group (mode ${octal}); consider \`chmod 600 ${file}\``;
  }
  const key = parseMasterKey(readFileSync(file, 'utf8'), file);
  return { key, id: keyIdOf(key), warning };
}

/** Writes a key file with mode 0600 and flushes it to disk before returning. */
export function writeKeyFile(file: string, key: Buffer, flag: 'wx' | 'w' = 'wx'): void {
  const fd = openSync(file, flag, 0o600);
  try {
    writeSync(fd, `${encodeMasterKey(key)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Stages the next key next to master.key (replacing a stale one from an earlier failed rotation). */
export function stagePendingKey(dataDir: string, key: Buffer): string {
  const pending = pendingKeyFilePath(dataDir);
  removeIfPresent(pending);
  writeKeyFile(pending, key, 'wx');
  return pending;
}

/** rename(2) replaces master.key atomically: a crash leaves either the old key or the new one, never half of one. */
export function promotePendingKey(dataDir: string): void {
  renameSync(pendingKeyFilePath(dataDir), keyFilePath(dataDir));
  fsyncDir(dataDir);
}

export function removeIfPresent(file: string): void {
  try {
    unlinkSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/** Makes a rename durable; best effort, since not every platform can fsync a directory. */
function fsyncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Windows and some filesystems refuse; the rename itself is still atomic.
  }
}

export function keyMismatchMessage(dataDir: string, storedKeyIds: string[], given: MasterKey): string {
  return (
    `the master key does not match the one this database was encrypted with (key id ${storedKeyIds.join(', ')}; ` +
    `the key from ${given.source === 'env' ? MASTER_KEY_ENV : given.file} has key id ${given.id}); ` +
    `set ${MASTER_KEY_ENV} to the right key or restore ${keyFilePath(dataDir)}`
  );
}

export function missingKeyMessage(dataDir: string, storedKeyIds: string[]): string {
  return (
    `this database holds secrets encrypted with master key id ${storedKeyIds.join(', ')}, but no master key was found; ` +
    `set ${MASTER_KEY_ENV} to that key or restore ${keyFilePath(dataDir)}`
  );
}
