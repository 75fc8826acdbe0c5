import { createHash } from 'node:crypto';
import { ExecutionContext, Logger, OnApplicationShutdown } from '@nestjs/common';
import { ThrottlerStorage, ThrottlerStorageService } from '@nestjs/throttler';
import type { ThrottlerStorageRecord } from '@nestjs/throttler/dist/throttler-storage-record.interface';
import { SharedCounters } from './shared-counters.service';

/** The prefix of the keys of password sign-in attempts (POST /login), the one throttled count held across replicas. */
export const LOGIN_KEY_PREFIX = 'login:';

/**
 * The throttler's key: sign-in attempts are `login:<client address>` (read by SharedThrottlerStorage);
 * every other route keeps @nestjs/throttler's own key (a SHA-256 of class, handler, throttler and address).
 */
export function throttlerKey(context: ExecutionContext, tracker: string, name: string): string {
  if (context.getHandler().name === 'login') return `${LOGIN_KEY_PREFIX}${tracker}`;
  return createHash('sha256').update(`${context.getClass().name}-${context.getHandler().name}-${name}-${tracker}`).digest('hex');
}

/**
 * @nestjs/throttler's storage with password guessing counted across replicas: on PostgreSQL each
 * POST /login adds one to the shared counters and is judged on the total of every replica, at
 * once (a database round trip, which a sign-in can afford; the proxy's limit is synced instead).
 * The window slides: the previous minute counts for the part of it still inside the last 60 s.
 * Every other limit (the OAuth endpoints, the admin API) stays in this replica's memory, as
 * @nestjs/throttler keeps it. Should the database fail, the attempt is counted locally instead.
 */
export class SharedThrottlerStorage implements ThrottlerStorage, OnApplicationShutdown {
  private readonly logger = new Logger('RateLimits');
  private readonly local = new ThrottlerStorageService();

  constructor(private readonly counters: SharedCounters) {}

  async increment(key: string, ttl: number, limit: number, blockDuration: number, throttlerName: string): Promise<ThrottlerStorageRecord> {
    if (!this.counters.shared || !key.startsWith(LOGIN_KEY_PREFIX)) return this.local.increment(key, ttl, limit, blockDuration, throttlerName);
    const now = Date.now();
    let totals: { current: number; previous: number };
    try {
      totals = await this.counters.addNow(key, ttl, now);
    } catch (err) {
      this.logger.warn(`shared sign-in count not updated, counted on this replica: ${err instanceof Error ? err.message : String(err)}`);
      return this.local.increment(key, ttl, limit, blockDuration, throttlerName);
    }
    const window = Math.floor(now / ttl) * ttl;
    // The sliding-window estimate: all of this window, and of the previous one the share still within ttl.
    const hits = totals.current + Math.floor(totals.previous * (1 - (now - window) / ttl));
    const timeToExpire = Math.max(1, Math.ceil((window + ttl - now) / 1000));
    const isBlocked = hits > limit;
    return { totalHits: hits, timeToExpire, isBlocked, timeToBlockExpire: isBlocked ? timeToExpire : 0 };
  }

  onApplicationShutdown(): void {
    this.local.onApplicationShutdown();
  }
}
