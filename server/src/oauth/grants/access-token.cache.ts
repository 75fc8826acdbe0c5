import { Injectable, Optional } from '@nestjs/common';
import { ChangeFeed } from '../../database/change-feed';

/** What the proxy needs to know about a valid access token. */
export interface AccessTokenInfo {
  tokenHash: string;
  grantId: string;
  clientId: string;
  userId: string;
  upstreamSlug: string;
  scope: string;
  expiresAt: number;
}

const MAX_ENTRIES = 50_000;

interface Cached {
  info: AccessTokenInfo;
  /** When the entry must be verified again: the token's expiry, or sooner with replicas (the safety TTL). */
  staleAt: number;
}

/**
 * Verified access tokens by hash, so the proxy's hot path needs no DB query.
 * The grants store removes entries the moment it revokes them, so revocation stays immediate; with
 * several replicas the others hear of it through the ChangeFeed, and an entry is re-verified at
 * least every ChangeFeed.SAFETY_TTL_MS in case a notification was missed (one comparison either way).
 */
@Injectable()
export class AccessTokenCache {
  private readonly byHash = new Map<string, Cached>();
  private readonly ttlMs: number;

  constructor(@Optional() feed?: ChangeFeed) {
    this.ttlMs = feed?.cacheTtlMs ?? Infinity;
  }

  get(hash: string): AccessTokenInfo | undefined {
    const entry = this.byHash.get(hash);
    if (!entry) return undefined;
    if (entry.staleAt <= Date.now()) {
      this.byHash.delete(hash);
      return undefined;
    }
    return entry.info;
  }

  set(info: AccessTokenInfo): void {
    if (this.byHash.size >= MAX_ENTRIES) {
      const oldest = this.byHash.keys().next().value;
      if (oldest !== undefined) this.byHash.delete(oldest);
    }
    this.byHash.set(info.tokenHash, { info, staleAt: Math.min(info.expiresAt, Date.now() + this.ttlMs) });
  }

  clear(): void {
    this.byHash.clear();
  }

  delete(hash: string): void {
    this.byHash.delete(hash);
  }

  deleteWhere(match: (info: AccessTokenInfo) => boolean): void {
    for (const [hash, entry] of this.byHash) if (match(entry.info)) this.byHash.delete(hash);
  }
}
