import type { AuditRecord } from '../../audit/audit.service';
import { TOKENS_PURPOSE, userUpstreamOwner, VaultOwner } from '../../vault/vault-addresses';
import { VaultService } from '../../vault/vault.service';
import { Upstream } from '../upstream';

export type UpstreamTokenResult = { accessToken: string } | { reauthorize: string };

/** Refresh when the access token expires within this window. */
export const REFRESH_MARGIN_MS = 60_000;

/** What is stored in the vault per user+upstream. `expires_at` is epoch milliseconds, null when the AS gave no expires_in. */
export interface StoredUpstreamTokens {
  access_token: string;
  refresh_token: string | null;
  expires_at: number | null;
  scope?: string | null;
}

/** The access token needs no refresh yet: it never expires, or not within the refresh margin. */
export function isFresh(tokens: StoredUpstreamTokens): boolean {
  return tokens.expires_at === null || tokens.expires_at - Date.now() > REFRESH_MARGIN_MS;
}

/** The access token has an expiry and has not reached it (it may be within the refresh margin). */
export function isUnexpired(tokens: StoredUpstreamTokens): boolean {
  return tokens.expires_at !== null && tokens.expires_at > Date.now();
}

/**
 * Each user's tokens at each upstream: in the vault, cached decrypted in memory. Every write of these
 * tokens goes through here, which keeps the cache correct. Also keeps one refresh in flight per
 * user+upstream.
 */
export class UpstreamTokenStore {
  private readonly cache = new Map<string, StoredUpstreamTokens>();
  private readonly refreshing = new Map<string, Promise<UpstreamTokenResult>>();
  /** Bumped by every write/forget of a user's tokens, so a refresh that loses a race does not write stale tokens back. */
  private readonly generations = new Map<string, number>();

  constructor(private readonly vault: VaultService) {}

  async load(upstream: Upstream, userId: string): Promise<StoredUpstreamTokens | null> {
    const key = tokenKey(upstream, userId);
    const cached = this.cache.get(key);
    if (cached) return cached;
    const generation = this.generations.get(key) ?? 0;
    const stored = await this.vault.getJson<StoredUpstreamTokens>(tokensOwner(upstream, userId), TOKENS_PURPOSE);
    if (!stored || typeof stored.access_token !== 'string') return null;
    // Only cache when no write/forget happened while reading.
    if ((this.generations.get(key) ?? 0) === generation) this.cache.set(key, stored);
    return stored;
  }

  /** Stores the tokens; `event` is the audit row of what obtained them, written in the same transaction. */
  async write(upstream: Upstream, userId: string, tokens: StoredUpstreamTokens, event?: AuditRecord): Promise<void> {
    const key = tokenKey(upstream, userId);
    this.bump(key);
    this.cache.delete(key);
    await this.vault.put(tokensOwner(upstream, userId), TOKENS_PURPOSE, tokens, { userId, event });
    this.cache.set(key, tokens);
  }

  async forget(upstream: Upstream, userId: string): Promise<void> {
    const key = tokenKey(upstream, userId);
    this.bump(key);
    this.cache.delete(key);
    await this.vault.delete(tokensOwner(upstream, userId), TOKENS_PURPOSE, { userId });
  }

  /**
   * Drops every user's cached tokens for the upstream (its settings changed, or it was deleted with
   * the vault rows): the next use reads the vault again, so no token outlives its row in memory.
   */
  forgetCachedFor(slug: string): void {
    for (const key of this.cache.keys()) {
      if (!key.endsWith(`:${slug}`)) continue;
      this.bump(key);
      this.cache.delete(key);
    }
  }

  /** Makes the cached access token count as expired, so the next use refreshes it. */
  expireCached(upstream: Upstream, userId: string): void {
    const cached = this.cache.get(tokenKey(upstream, userId));
    if (cached) cached.expires_at = 0;
  }

  /** Changes whenever the user's tokens are written or forgotten. */
  generation(upstream: Upstream, userId: string): number {
    return this.generations.get(tokenKey(upstream, userId)) ?? 0;
  }

  /** Runs `refresh` unless a refresh of the user's tokens is already in flight; then shares its result. */
  refreshOnce(upstream: Upstream, userId: string, refresh: () => Promise<UpstreamTokenResult>): Promise<UpstreamTokenResult> {
    const key = tokenKey(upstream, userId);
    let inFlight = this.refreshing.get(key);
    if (!inFlight) {
      inFlight = refresh().finally(() => this.refreshing.delete(key));
      this.refreshing.set(key, inFlight);
    }
    return inFlight;
  }

  private bump(key: string): void {
    this.generations.set(key, (this.generations.get(key) ?? 0) + 1);
  }
}

function tokenKey(upstream: Upstream, userId: string): string {
  return `${userId}:${upstream.slug}`;
}

function tokensOwner(upstream: Upstream, userId: string): VaultOwner {
  return userUpstreamOwner(userId, upstream.slug);
}
