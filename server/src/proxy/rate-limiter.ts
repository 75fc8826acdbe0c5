/** Keys (user + upstream) remembered at most; beyond it the least recently seen bucket is dropped. */
const MAX_KEYS = 100_000;

/** The shared counters' window: counts are added per key and minute (the minute only bounds the rows; see learn()). */
export const WINDOW_MS = 60_000;
/** How long after its last request here a key's shared total is still read at every sync (when it has nothing to send). */
export const WATCH_MS = 10_000;

interface Bucket {
  tokens: number;
  at: number;
  /** Admitted here and not yet sent to the shared counters. */
  unsent: number;
  /** The shared window this bucket last synced in, what this replica added to it, and what it learned of the others'. */
  window: number;
  ownInWindow: number;
  othersInWindow: number;
  /** The same for the window before it, when this bucket synced there too (late counts of the others land there). */
  previous: { own: number; others: number } | null;
}

/** One key's admitted requests since the last sync, to add to the shared counters. */
export interface Delta {
  key: string;
  count: number;
}

/**
 * Token buckets per key (user + upstream): `perMinute` requests a minute, in bursts of
 * up to `perMinute`. Buckets that have refilled are dropped, so memory follows active users,
 * and there are never more than `maxKeys` of them (a dropped bucket restarts full, which only
 * a key idle for longer than all `maxKeys` others can get).
 *
 * Shared (several replicas on PostgreSQL, `share()`): every replica keeps its own bucket per key,
 * and each bucket is drained by the requests of every replica, its own at once and the others' when
 * a sync (SharedCounters, about once a second) tells it their new total. Each bucket still refills
 * at `perMinute`, so what all replicas admit together stays within `perMinute` a minute in bursts of
 * `perMinute`, plus what the others admitted since the last sync. take() stays in memory: the
 * proxy's hot path makes no database round trip.
 *
 * The least recently used order is a Map's insertion order (a key used is moved to the end),
 * not lru-cache's: lru-cache allocates its index arrays for `max` entries up front, about 2.8 MB
 * for 100,000 keys per limiter from the start, where a Map grows with the keys actually active.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly refillPerMs: number;
  private sweepAt = 0;
  private shared = false;
  /** Buckets with requests not yet sent; at most maxKeys (beyond it a key is counted here only until the next sync). */
  private readonly unsent = new Map<string, Bucket>();
  /** Keys sent recently, with when to stop reading their totals, oldest first; at most maxKeys. */
  private readonly watch = new Map<string, number>();

  constructor(
    private readonly perMinute: number,
    private readonly maxKeys = MAX_KEYS,
  ) {
    this.refillPerMs = perMinute / 60_000;
  }

  /** Buckets currently remembered. */
  get size(): number {
    return this.buckets.size;
  }

  /** Whether there is anything to limit (a limit of 0 turns the limiter off). */
  get enabled(): boolean {
    return this.perMinute > 0;
  }

  /** From now on, admitted requests are collected for drain() (SharedCounters calls it on PostgreSQL only). */
  share(): void {
    this.shared = true;
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
      bucket = { tokens: this.perMinute, at: now, unsent: 0, window: 0, ownInWindow: 0, othersInWindow: 0, previous: null };
    }
    this.buckets.set(key, bucket);
    this.refill(bucket, now);
    if (bucket.tokens < 1) return Math.ceil((1 - bucket.tokens) / this.refillPerMs / 1000);
    bucket.tokens -= 1;
    if (this.shared) {
      if (bucket.unsent > 0) bucket.unsent += 1;
      else if (this.unsent.size < this.maxKeys) {
        bucket.unsent = 1;
        this.unsent.set(key, bucket);
      }
    }
    return 0;
  }

  /** The requests admitted since the last drain, per key; they count as sent in `window`. */
  drain(window: number, now = Date.now()): Delta[] {
    const deltas: Delta[] = [];
    for (const [key, bucket] of this.unsent) {
      if (bucket.window !== window) this.enterWindow(bucket, window);
      bucket.ownInWindow += bucket.unsent;
      deltas.push({ key, count: bucket.unsent });
      bucket.unsent = 0;
      this.watch.delete(key);
      this.watch.set(key, now + WATCH_MS);
    }
    this.unsent.clear();
    for (const [key] of this.watch) {
      if (this.watch.size <= this.maxKeys) break;
      this.watch.delete(key);
    }
    return deltas;
  }

  /**
   * Keys with requests here within WATCH_MS but nothing to send now: their totals are read as well,
   * so that a replica between two requests of a user still learns what the others admit.
   */
  watched(now = Date.now()): string[] {
    const keys: string[] = [];
    for (const [key, until] of this.watch) {
      if (until <= now) this.watch.delete(key);
      else if (!this.unsent.has(key)) keys.push(key);
    }
    return keys;
  }

  /**
   * The shared totals of `key` after this replica added its delta in `window` (and of the window
   * before, which the others may still have added to after this replica's last look, null when
   * unknown): whatever of them is neither this replica's own nor already learned was admitted by
   * the others since, and drains this replica's bucket (never below empty: a burst the replicas let
   * through together before they knew of each other is not held against the user twice).
   */
  learn(key: string, window: number, total: number, previousTotal: number | null = null, now = Date.now()): void {
    const bucket = this.buckets.get(key);
    if (!bucket) return;
    if (bucket.window !== window) this.enterWindow(bucket, window);
    let others = Math.max(0, total - bucket.ownInWindow - bucket.othersInWindow);
    bucket.othersInWindow += others;
    if (bucket.previous && previousTotal !== null) {
      const late = Math.max(0, previousTotal - bucket.previous.own - bucket.previous.others);
      bucket.previous.others += late;
      others += late;
    }
    if (others === 0) return;
    this.refill(bucket, now);
    bucket.tokens = Math.max(0, bucket.tokens - others);
  }

  private enterWindow(bucket: Bucket, window: number): void {
    bucket.previous = bucket.window === window - WINDOW_MS ? { own: bucket.ownInWindow, others: bucket.othersInWindow } : null;
    bucket.window = window;
    bucket.ownInWindow = 0;
    bucket.othersInWindow = 0;
  }

  private refill(bucket: Bucket, now: number): void {
    bucket.tokens = Math.min(this.perMinute, bucket.tokens + (now - bucket.at) * this.refillPerMs);
    bucket.at = now;
  }

  private sweep(now: number): void {
    this.sweepAt = now + 60_000;
    // A bucket that synced in the current or previous window is kept: it remembers what this
    // replica added there, which a new bucket would mistake for the others' requests.
    const recentWindow = Math.floor(now / WINDOW_MS) * WINDOW_MS - WINDOW_MS;
    const full: string[] = [];
    for (const [key, b] of this.buckets.entries()) {
      if (b.unsent > 0 || b.window >= recentWindow) continue;
      if (b.tokens + (now - b.at) * this.refillPerMs >= this.perMinute) full.push(key);
    }
    for (const key of full) this.buckets.delete(key);
  }
}
