import { LRUCache } from 'lru-cache';
import { randomToken } from '../../common/crypto';

/** What openid-client's passport strategy keeps between the redirect and the callback: PKCE verifier, state, nonce. */
export type StrategyStateData = Record<string, unknown> & { code_verifier: string };

export interface PendingSignIn {
  provider: string;
  /** Where the browser goes once signed in (a same-origin path: the /authorize flow, the console). */
  returnTo: string;
  stateData: StrategyStateData;
}

/** Browsers that went to a provider and have not come back: anyone can start one, so the count is bounded. */
const MAX_PENDING = 10_000;
/** Ten minutes to sign in at the provider, like an authorization code's lifetime (OAuth 2.1 §4.1.2). */
export const PENDING_TTL_MS = 10 * 60_000;

/**
 * Pending federated sign-ins, keyed by a random value kept in the browser's cookie (not by `state`, which
 * travels in URLs): the callback must come back to the browser that started it (a login-CSRF defence,
 * RFC 6749 §10.12), and each entry is used once. Memory only: a restart asks users to click again.
 */
export class PendingSignIns {
  private readonly entries = new LRUCache<string, PendingSignIn>({ max: MAX_PENDING, ttl: PENDING_TTL_MS, ttlAutopurge: false });

  /** Stores the entry and returns the key for the browser's cookie. */
  put(entry: PendingSignIn): string {
    const key = randomToken();
    this.entries.set(key, entry);
    return key;
  }

  /** The entry, once: a second callback with the same cookie finds nothing. */
  take(key: unknown): PendingSignIn | undefined {
    if (typeof key !== 'string' || !key) return undefined;
    const entry = this.entries.get(key);
    this.entries.delete(key);
    return entry;
  }

  get size(): number {
    return this.entries.size;
  }
}
