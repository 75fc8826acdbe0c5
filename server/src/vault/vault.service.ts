import { randomUUID } from 'node:crypto';
import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { FindOptionsWhere, Like, Not, Repository } from 'typeorm';
import { AuditRecord, AuditService } from '../audit/audit.service';
import { ConfigService } from '../config/config.service';
import { Transactions, Tx } from '../database/transactions';
import {
  createMasterKeyFile,
  findMasterKey,
  keyFilePath,
  keyMismatchMessage,
  MasterKey,
  MasterKeyError,
  missingKeyMessage,
  pendingKeyFilePath,
  promotePendingKey,
  readKeyFile,
} from './master-key';
import type { VaultOwner, VaultOwnerSet, VaultPurpose } from './vault-addresses';
import { deriveSubkey, keyCheckPasses, makeKeyCheck, openSecret, sealSecret, VaultDecryptError } from './vault-crypto';
import { VaultKey } from './vault-key.entity';
import { VaultSecret } from './vault-secret.entity';

export { VaultDecryptError } from './vault-crypto';
export { MasterKeyError } from './master-key';

/** Who caused a write, for the audit row. */
export interface VaultActor {
  userId?: string | null;
  /** A further audit row, for what this write completes (e.g. a sign-in): written in the same transaction. */
  event?: AuditRecord;
}

/**
 * Encrypted storage for upstream secrets (AES-256-GCM, one fresh nonce per write).
 * The master key is checked when the module starts: a wrong or missing key fails the
 * start with a MasterKeyError naming what to fix. Values never leave this service
 * except through get()/getJson(); audit rows carry owner and purpose only.
 */
@Injectable()
export class VaultService implements OnModuleInit {
  private readonly logger = new Logger('Vault');
  private master: MasterKey | null = null;

  constructor(
    @InjectRepository(VaultSecret) private readonly secrets: Repository<VaultSecret>,
    @InjectRepository(VaultKey) private readonly keys: Repository<VaultKey>,
    private readonly config: ConfigService,
    private readonly audit: AuditService,
    private readonly transactions: Transactions,
  ) {}

  async onModuleInit(): Promise<void> {
    this.master = await this.unlock();
  }

  /** The current master key's id (not secret): for status pages and logs. */
  get keyId(): string {
    return this.key().id;
  }

  /** A key for another purpose (e.g. 'refresh-rotation'), derived from the master key; see deriveSubkey. */
  deriveKey(label: string): Buffer {
    return deriveSubkey(this.key().key, label);
  }

  /** Stores (or replaces) one secret, with its audit row. Objects are stored as JSON; read them back with getJson(). */
  async put(owner: VaultOwner, purpose: VaultPurpose, plaintext: string | object, actor: VaultActor = {}): Promise<void> {
    await this.transactions.run((tx) => this.putIn(tx, owner, purpose, plaintext, actor));
  }

  /** put() inside the caller's transaction, so what the write belongs to commits with it. */
  async putIn(tx: Tx, owner: VaultOwner, purpose: VaultPurpose, plaintext: string | object, actor: VaultActor = {}): Promise<void> {
    checkAddress(owner, purpose);
    const value = typeof plaintext === 'string' ? plaintext : JSON.stringify(plaintext);
    const master = this.key();
    const where = { ownerType: owner.type, ownerId: owner.id, purpose };
    const now = Date.now();
    // Read and write in one transaction, holding the address: no concurrent put or delete (on any
    // replica) can get in between, so two first puts make one row, not a unique-key failure.
    await tx.lock(`vault:${owner.type}:${owner.id}:${purpose}`);
    const [existing] = await tx.find(this.secrets, where, ['id']);
    if (existing) {
      // Same row id, so the associated data is unchanged; the nonce is always new.
      const sealed = sealSecret(master.key, { ...where, id: existing.id }, value);
      await tx.update(this.secrets, { id: existing.id }, { ...sealed, keyId: master.id, updatedAt: now });
    } else {
      const id = randomUUID();
      const sealed = sealSecret(master.key, { ...where, id }, value);
      await tx.insert(this.secrets, { id, ...where, ...sealed, keyId: master.id, createdAt: now, updatedAt: now });
    }
    await this.recordWrite(tx, 'vault.write', owner, purpose, actor);
    if (actor.event) await this.audit.recordIn(tx, actor.event);
  }

  /** The secret, or null when none is stored. Throws VaultDecryptError when it does not authenticate. */
  async get(owner: VaultOwner, purpose: VaultPurpose): Promise<string | null> {
    checkAddress(owner, purpose);
    const row = await this.secrets.findOneBy({ ownerType: owner.type, ownerId: owner.id, purpose });
    return row ? this.decrypt(row) : null;
  }

  async getJson<T = unknown>(owner: VaultOwner, purpose: VaultPurpose): Promise<T | null> {
    const value = await this.get(owner, purpose);
    return value === null ? null : (JSON.parse(value) as T);
  }

  /** Deletes one secret, or every secret of the owner when purpose is omitted. Returns how many went. */
  async delete(owner: VaultOwner, purpose?: VaultPurpose, actor: VaultActor = {}): Promise<number> {
    return this.transactions.run((tx) => this.deleteIn(tx, owner, purpose, actor));
  }

  /** delete() inside the caller's transaction. */
  deleteIn(tx: Tx, owner: VaultOwner, purpose?: VaultPurpose, actor: VaultActor = {}): Promise<number> {
    checkAddress(owner, purpose ?? 'any');
    return this.deleteRowsIn(tx, { ownerType: owner.type, ownerId: owner.id, ...(purpose === undefined ? {} : { purpose }) }, actor);
  }

  /**
   * Deletes every secret of every owner in `owners` (one type, ids ending with a suffix), inside the
   * caller's transaction: e.g. what all users keep for one upstream (usersOfUpstream(slug)).
   * The suffix must not contain LIKE wildcards (% or _), so that it matches only itself.
   */
  deleteOwnersIn(tx: Tx, owners: VaultOwnerSet, actor: VaultActor = {}): Promise<number> {
    const { type: ownerType, idSuffix } = owners;
    checkAddress({ type: ownerType, id: idSuffix }, 'any');
    if (/[%_\\]/.test(idSuffix)) throw new TypeError('vault: an owner id suffix must not contain %, _ or \\');
    return this.deleteRowsIn(tx, { ownerType, ownerId: Like(`%${idSuffix}`) }, actor);
  }

  private async deleteRowsIn(tx: Tx, where: FindOptionsWhere<VaultSecret>, actor: VaultActor): Promise<number> {
    const rows = await tx.find(this.secrets, where, ['id', 'ownerType', 'ownerId', 'purpose']);
    for (const row of rows) {
      await tx.delete(this.secrets, { id: row.id });
      await this.recordWrite(tx, 'vault.delete', { type: row.ownerType, id: row.ownerId }, row.purpose, actor);
    }
    return rows.length;
  }

  /** The purposes stored for an owner, sorted: what an admin page may show. Never values. */
  async list(owner: VaultOwner): Promise<VaultPurpose[]> {
    checkAddress(owner, 'any');
    const rows = await this.secrets.find({
      where: { ownerType: owner.type, ownerId: owner.id },
      select: { purpose: true },
      order: { purpose: 'ASC' },
    });
    // Only put() writes rows, and it takes a VaultPurpose.
    return rows.map((r) => r.purpose as VaultPurpose);
  }

  private decrypt(row: VaultSecret): string {
    const master = this.key();
    try {
      if (row.keyId !== master.id) {
        throw new VaultDecryptError(
          `vault secret ${row.id} (${row.ownerType} ${row.ownerId}, purpose ${row.purpose}) is sealed under master key id ${row.keyId}, not the current ${master.id}`,
        );
      }
      return openSecret(master.key, row);
    } catch (err) {
      // Authentication failures mean tampering or a broken restore: worth an audit row.
      void this.audit.recordNow({
        type: 'vault.read',
        outcome: 'failure',
        detail: { owner_type: row.ownerType, owner_id: row.ownerId, purpose: row.purpose, secret_id: row.id },
      });
      throw err;
    }
  }

  private recordWrite(tx: Tx, type: 'vault.write' | 'vault.delete', owner: { type: string; id: string }, purpose: string, actor: VaultActor): Promise<void> {
    return this.audit.recordIn(tx, {
      type,
      outcome: 'success',
      userId: actor.userId ?? null,
      detail: { owner_type: owner.type, owner_id: owner.id, purpose },
    });
  }

  private key(): MasterKey {
    if (!this.master) throw new Error('vault: used before the master key was loaded');
    return this.master;
  }

  /**
   * Finds the master key and proves it is the one the database was sealed with.
   * First start (no key-check row yet): uses GATEHOUSE_MASTER_KEY, or creates DATA_DIR/master.key.
   */
  private async unlock(): Promise<MasterKey> {
    const dataDir = this.config.dataDir;
    const stored = await this.keys.find();
    let master = findMasterKey(dataDir);
    if (!stored.length) {
      master ??= createMasterKeyFile(dataDir);
      await this.assertEverySecretSealedWith(master);
      await this.keys.insert({ keyId: master.id, ...makeKeyCheck(master.key), createdAt: Date.now() });
      this.logger.log(`vault sealed with master key id ${master.id} from ${master.file ?? 'GATEHOUSE_MASTER_KEY'}`);
      this.warnAbout(master);
      return master;
    }
    const storedIds = stored.map((k) => k.keyId);
    if (!master) throw new MasterKeyError(missingKeyMessage(dataDir, storedIds));
    let check = stored.find((k) => k.keyId === master!.id);
    if (!check && master.source === 'file') {
      const finished = this.finishInterruptedRotation(stored);
      if (finished) [master, check] = finished;
    }
    if (!check || !keyCheckPasses(master.key, check)) throw new MasterKeyError(keyMismatchMessage(dataDir, storedIds, master));
    await this.assertEverySecretSealedWith(master);
    this.warnAbout(master);
    return master;
  }

  /**
   * A rotation commits the database first and then renames master.key.new over master.key.
   * If it died in between, the staged key is the right one: verify it and finish the rename.
   */
  private finishInterruptedRotation(stored: VaultKey[]): [MasterKey, VaultKey] | null {
    const dataDir = this.config.dataDir;
    const pending = readKeyFile(pendingKeyFilePath(dataDir));
    const check = pending && stored.find((k) => k.keyId === pending.id);
    if (!pending || !check || !keyCheckPasses(pending.key, check)) return null;
    promotePendingKey(dataDir);
    this.logger.warn(`finished an interrupted key rotation: ${pendingKeyFilePath(dataDir)} moved to ${keyFilePath(dataDir)}`);
    return [{ ...pending, source: 'file', file: keyFilePath(dataDir) }, check];
  }

  /** Rows under another key mean a rotation ran while a gateway kept writing with the old key. */
  private async assertEverySecretSealedWith(master: MasterKey): Promise<void> {
    const stray = await this.secrets.find({ where: { keyId: Not(master.id) }, select: { id: true, keyId: true } });
    if (!stray.length) return;
    const ids = [...new Set(stray.map((s) => s.keyId))].join(', ');
    throw new MasterKeyError(
      `${stray.length} vault secret(s) are sealed under master key id ${ids}, not the current key id ${master.id} ` +
        '(was the key rotated while a gateway was still running?); start with the key they were sealed with',
    );
  }

  private warnAbout(master: MasterKey): void {
    if (master.warning) this.logger.warn(master.warning);
  }
}

function checkAddress(owner: { type: string; id: string }, purpose: string): void {
  for (const [name, value] of [
    ['owner type', owner?.type],
    ['owner id', owner?.id],
    ['purpose', purpose],
  ] as const) {
    if (typeof value !== 'string' || value === '') throw new TypeError(`vault: ${name} must be a non-empty string`);
  }
}
