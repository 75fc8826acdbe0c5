import { LRUCache } from 'lru-cache';
import { Upstream } from '../upstream';

/** A pending sign-in lives this long: the user has 10 minutes to sign in at the upstream. */
const SIGN_IN_TTL_MS = 10 * 60_000;
/** Bound on remembered pending sign-ins (least recently used dropped first). */
const MAX_PENDING = 10_000;

export interface PendingSignIn {
  upstream: Upstream;
  userId: string;
  verifier: string;
  returnTo: string;
  redirectUri: string;
}

/**
 * Sign-ins sent to an upstream and not yet back at the callback, by state. Kept in memory only: a
 * gateway restart in the middle of one makes the callback answer "unknown or expired", and the user
 * simply starts again from the application. Bounded in count and in time (an expired one is never
 * returned).
 */
export class PendingSignIns {
  private readonly byState: LRUCache<string, PendingSignIn>;

  constructor(max = MAX_PENDING, ttlMs = SIGN_IN_TTL_MS) {
    this.byState = new LRUCache({ max, ttl: ttlMs });
  }

  get size(): number {
    return this.byState.size;
  }

  add(state: string, signIn: PendingSignIn): void {
    this.byState.set(state, signIn);
  }

  peek(state: string): PendingSignIn | null {
    return this.byState.get(state) ?? null;
  }

  take(state: string): PendingSignIn | null {
    const p = this.peek(state);
    if (p) this.byState.delete(state);
    return p;
  }

  delete(state: string): void {
    this.byState.delete(state);
  }
}
