import { Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { In, LessThanOrEqual, MoreThan, Repository } from 'typeorm';
import { sha256 } from '../common/crypto';
import { Transactions } from '../database/transactions';
import { open, seal, Sealed } from '../vault/vault-crypto';
import { VaultService } from '../vault/vault.service';
import { PendingSignInKind, PendingSignInRecord } from './pending-sign-in.entity';

/** Ten minutes to sign in at the other server, like an authorization code's lifetime (OAuth 2.1 §4.1.2). */
export const PENDING_TTL_MS = 10 * 60_000;
/**
 * Pending sign-ins kept per requester (an IP address for the gateway's own sign-in, which anyone may
 * start; a user for an upstream's). Starting more drops the requester's oldest, as the LRU in memory
 * did before; the rate limits of the routes bound how fast rows come at all.
 */
export const MAX_PENDING_PER_REQUESTER = 200;
/** How often expired rows are deleted (each replica; the statement is idempotent and uses the expires_at index). */
const PURGE_EVERY_MS = 60_000;
/** Longer keys are no key of ours: not hashed, not looked up. */
const MAX_KEY_LENGTH = 512;

/**
 * Sign-ins sent to another authorization server (an OpenID Connect provider, an upstream's AS) and
 * not yet back at the callback. They are in the database, not in one replica's memory, because the
 * callback may land on any replica behind the balancer; this is what multi-instance authorization
 * servers do (Dex's auth_request table, Ory Hydra's flow table: a row per pending request with an
 * expiry and a garbage collector) rather than sealing the state into a cookie (oauth2-proxy), which
 * cannot be made single-use without a table anyway, and does not fit the upstream flow, whose
 * callback is matched by `state` alone.
 *
 * - The key (the browser's cookie value, or the `state` parameter) is stored as a SHA-256 hash: the
 *   table alone cannot complete a sign-in.
 * - The data (PKCE verifier, nonce, where to return) is sealed with AES-256-GCM under a key derived
 *   from the vault's master key (HKDF, the same on every replica), bound to its row.
 * - Single use: take() ends with a conditional DELETE; of two concurrent callbacks (on any replicas)
 *   exactly one deletes the row (PostgreSQL's row lock; SQLite's transactions take turns), the other
 *   gets nothing, like a replayed one.
 * - Bounded: PENDING_TTL_MS, MAX_PENDING_PER_REQUESTER, and a purge of expired rows every minute.
 */
@Injectable()
export class PendingSignIns implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('PendingSignIns');
  private key: Buffer | null = null;
  private purgeTimer: NodeJS.Timeout | null = null;

  constructor(
    @InjectRepository(PendingSignInRecord) private readonly records: Repository<PendingSignInRecord>,
    private readonly transactions: Transactions,
    private readonly vault: VaultService,
  ) {}

  onModuleInit(): void {
    this.purgeTimer = setInterval(() => void this.purgeExpired(), PURGE_EVERY_MS);
    this.purgeTimer.unref();
  }

  onModuleDestroy(): void {
    if (this.purgeTimer) clearInterval(this.purgeTimer);
  }

  /** Stores a pending sign-in under `key` (random, 256 bits: the caller's cookie value or state) for PENDING_TTL_MS. */
  async put(kind: PendingSignInKind, key: string, requester: string, data: object): Promise<void> {
    const now = Date.now();
    const id = idOf(kind, key);
    const sealed = JSON.stringify(seal(this.sealingKey(), JSON.stringify(data), aadOf(kind, id)));
    await this.transactions.run(async (tx) => {
      await tx.insert(this.records, { id, kind, requester, sealed, createdAt: now, expiresAt: now + PENDING_TTL_MS });
      // The requester's unexpired rows (at most the bound plus this one, by the index on requester).
      const mine = await tx.find(this.records, { requester, expiresAt: MoreThan(now) }, ['id', 'createdAt']);
      if (mine.length <= MAX_PENDING_PER_REQUESTER) return;
      const others = mine.filter((r) => r.id !== id).sort((a, b) => a.createdAt - b.createdAt);
      const oldest = others.slice(0, mine.length - MAX_PENDING_PER_REQUESTER);
      await tx.delete(this.records, { id: In(oldest.map((r) => r.id)) });
    });
  }

  /**
   * The data stored under `key`, once: the row is deleted, and a second take (a replayed callback,
   * on any replica) finds nothing. `accept` may refuse it first (then it stays, e.g. for its own
   * browser). Null when unknown, expired, refused, or taken by someone else meanwhile.
   */
  async take<T extends object>(kind: PendingSignInKind, key: unknown, accept: (data: T) => boolean = () => true): Promise<T | null> {
    if (typeof key !== 'string' || !key || key.length > MAX_KEY_LENGTH) return null;
    const now = Date.now();
    const id = idOf(kind, key);
    const row = await this.records.findOne({ where: { id, kind, expiresAt: MoreThan(now) } });
    if (!row) return null;
    const data = this.unseal<T>(row);
    if (!data || !accept(data)) return null;
    const deleted = await this.transactions.run((tx) => tx.delete(this.records, { id, expiresAt: MoreThan(now) }));
    return deleted ? data : null;
  }

  /** Deletes the expired rows; returns how many. */
  async purgeExpired(now = Date.now()): Promise<number> {
    try {
      return await this.transactions.run((tx) => tx.delete(this.records, { expiresAt: LessThanOrEqual(now) }));
    } catch (err) {
      this.logger.error(`could not delete expired pending sign-ins: ${(err as Error).message}`);
      return 0;
    }
  }

  private unseal<T>(row: PendingSignInRecord): T | null {
    let sealed: Sealed;
    try {
      sealed = JSON.parse(row.sealed) as Sealed;
    } catch {
      return null;
    }
    const plaintext = open(this.sealingKey(), sealed, aadOf(row.kind, row.id));
    if (plaintext === null) {
      // Sealed under another master key, or altered: unusable, as an expired one.
      this.logger.warn(`a pending sign-in could not be opened (altered, or sealed under another master key)`);
      return null;
    }
    return JSON.parse(plaintext) as T;
  }

  private sealingKey(): Buffer {
    return (this.key ??= this.vault.deriveKey('pending-sign-ins'));
  }
}

function idOf(kind: PendingSignInKind, key: string): string {
  return sha256(`${kind}\0${key}`);
}

/** Binds a seal to its row: moved to another id or kind, it no longer opens. */
function aadOf(kind: PendingSignInKind, id: string): string {
  return `gatehouse-pending-sign-in:v1:${kind}:${id}`;
}
