import { Injectable } from '@nestjs/common';

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

/**
 * Verified access tokens by hash, so the proxy's hot path needs no DB query.
 * The grants store removes entries the moment it revokes them, so revocation stays immediate.
 */
@Injectable()
export class AccessTokenCache {
  private readonly byHash = new Map<string, AccessTokenInfo>();

  get(hash: string): AccessTokenInfo | undefined {
    const info = this.byHash.get(hash);
    if (info && info.expiresAt <= Date.now()) {
      this.byHash.delete(hash);
      return undefined;
    }
    return info;
  }

  set(info: AccessTokenInfo): void {
    if (this.byHash.size >= MAX_ENTRIES) {
      const oldest = this.byHash.keys().next().value;
      if (oldest !== undefined) this.byHash.delete(oldest);
    }
    this.byHash.set(info.tokenHash, info);
  }

  delete(hash: string): void {
    this.byHash.delete(hash);
  }

  deleteWhere(match: (info: AccessTokenInfo) => boolean): void {
    for (const [hash, info] of this.byHash) if (match(info)) this.byHash.delete(hash);
  }
}
