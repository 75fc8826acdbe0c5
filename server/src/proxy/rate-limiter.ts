import { LRUCache } from 'lru-cache';

/** Keys (user + upstream) remembered at most; beyond it the least recently seen bucket is dropped. */
const MAX_KEYS = 100_000;

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * Token buckets per key (user + upstream): `perMinute` requests a minute, in bursts of
 * up to `perMinute`. Buckets that have refilled are dropped, so memory follows active users,
 * and there are never more than `maxKeys` of them (a dropped bucket restarts full, which only
 * a key idle for longer than all `maxKeys` others can get).
 */
export class RateLimiter {
  private readonly buckets: LRUCache<string, Bucket>;
  private readonly refillPerMs: number;
  private sweepAt = 0;

  constructor(
    private readonly perMinute: number,
    maxKeys = MAX_KEYS,
  ) {
    this.refillPerMs = perMinute / 60_000;
    this.buckets = new LRUCache({ max: maxKeys });
  }

  /** Buckets currently remembered. */
  get size(): number {
    return this.buckets.size;
  }

  /** Seconds to wait when the key is over its limit; 0 when the request may go on. */
  take(key: string, now = Date.now()): number {
    if (this.perMinute <= 0) return 0;
    if (now >= this.sweepAt) this.sweep(now);
    let bucket = this.buckets.get(key);
    if (!bucket) {
      bucket = { tokens: this.perMinute, at: now };
      this.buckets.set(key, bucket);
    }
    bucket.tokens = Math.min(this.perMinute, bucket.tokens + (now - bucket.at) * this.refillPerMs);
    bucket.at = now;
    if (bucket.tokens < 1) return Math.ceil((1 - bucket.tokens) / this.refillPerMs / 1000);
    bucket.tokens -= 1;
    return 0;
  }

  private sweep(now: number): void {
    this.sweepAt = now + 60_000;
    const full: string[] = [];
    for (const [key, b] of this.buckets.entries()) {
      if (b.tokens + (now - b.at) * this.refillPerMs >= this.perMinute) full.push(key);
    }
    for (const key of full) this.buckets.delete(key);
  }
}
