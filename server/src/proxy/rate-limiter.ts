/**
 * Token buckets per key (user + upstream): `perMinute` requests a minute, in bursts of
 * up to `perMinute`. Buckets that have refilled are dropped, so memory follows active users.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly refillPerMs: number;
  private sweepAt = 0;

  constructor(private readonly perMinute: number) {
    this.refillPerMs = perMinute / 60_000;
  }

  /** Seconds to wait when the key is over its limit; 0 when the request may go on. */
  take(key: string, now = Date.now()): number {
    if (this.perMinute <= 0) return 0;
    if (now >= this.sweepAt) this.sweep(now);
    const bucket = this.buckets.get(key) ?? { tokens: this.perMinute, at: now };
    bucket.tokens = Math.min(this.perMinute, bucket.tokens + (now - bucket.at) * this.refillPerMs);
    bucket.at = now;
    this.buckets.set(key, bucket);
    if (bucket.tokens < 1) return Math.ceil((1 - bucket.tokens) / this.refillPerMs / 1000);
    bucket.tokens -= 1;
    return 0;
  }

  private sweep(now: number): void {
    this.sweepAt = now + 60_000;
    for (const [key, b] of this.buckets) {
      if (b.tokens + (now - b.at) * this.refillPerMs >= this.perMinute) this.buckets.delete(key);
    }
  }
}
