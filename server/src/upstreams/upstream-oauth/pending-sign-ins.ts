import { Upstream } from '../upstream';

/** A pending sign-in lives this long: the user has 10 minutes to sign in at the upstream. */
const SIGN_IN_TTL_MS = 10 * 60_000;
/** Bound on remembered pending sign-ins (oldest dropped first). */
const MAX_PENDING = 10_000;

export interface PendingSignIn {
  upstream: Upstream;
  userId: string;
  verifier: string;
  returnTo: string;
  redirectUri: string;
  expiresAt: number;
}

/**
 * Sign-ins sent to an upstream and not yet back at the callback, by state. Kept in memory only: a
 * gateway restart in the middle of one makes the callback answer "unknown or expired", and the user
 * simply starts again from the application.
 */
export class PendingSignIns {
  private readonly byState = new Map<string, PendingSignIn>();

  add(state: string, signIn: Omit<PendingSignIn, 'expiresAt'>): void {
    this.prune();
    this.byState.set(state, { ...signIn, expiresAt: Date.now() + SIGN_IN_TTL_MS });
  }

  peek(state: string): PendingSignIn | null {
    const p = this.byState.get(state);
    if (!p) return null;
    if (p.expiresAt <= Date.now()) {
      this.byState.delete(state);
      return null;
    }
    return p;
  }

  take(state: string): PendingSignIn | null {
    const p = this.peek(state);
    if (p) this.byState.delete(state);
    return p;
  }

  delete(state: string): void {
    this.byState.delete(state);
  }

  private prune(): void {
    const now = Date.now();
    for (const [state, p] of this.byState) if (p.expiresAt <= now) this.byState.delete(state);
    // Insertion order is age order: drop the oldest beyond the bound.
    for (const state of this.byState.keys()) {
      if (this.byState.size < MAX_PENDING) break;
      this.byState.delete(state);
    }
  }
}
