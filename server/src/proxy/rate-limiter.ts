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
 *
 * The least recently used order is a Map's insertion order (a key used is moved to the end),
 * not lru-cache's: lru-cache allocates its index arrays for `max` entries up front, about 2.8 MB
 * for 100,000 keys per limiter from the start, where a Map grows with the keys actually active.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly refillPerMs: number;
  private sweepAt = 0;

  constructor(
    private readonly perMinute: number,
    private readonly maxKeys = MAX_KEYS,
  ) {
    this.refillPerMs = perMinute / 60_000;
  }

  /** False when perMinute is 0: take() always answers 0, and callers need not build a key. */
  get enabled(): boolean {
    return this.perMinute > 0;
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
    if (bucket) {
      // Most recently used: to the end of the order.
      this.buckets.delete(key);
    } else {
      if (this.buckets.size >= this.maxKeys) this.buckets.delete(this.buckets.keys().next().value!);
      bucket = { tokens: this.perMinute, at: now };
    }
    this.buckets.set(key, bucket);
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
