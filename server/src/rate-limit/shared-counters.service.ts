import { Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { Transactions } from '../database/transactions';
import { RateLimiter, WINDOW_MS } from '../proxy/rate-limiter';

/** How often a replica adds its counts to the shared ones and learns the others': the bound of the approximation. */
export const SYNC_MS = 1_000;
/** Rows per statement (3 parameters each, far below PostgreSQL's 65,535). */
const ROWS_PER_STATEMENT = 500;
/** Windows older than this many minutes are deleted (the limiters read only the current one). */
const KEEP_WINDOWS = 2;
/** How often a failed sync is logged at most. */
const LOG_EVERY_MS = 60_000;

/**
 * Rate limits held across replicas (issue 14). On PostgreSQL every RateLimiter registered here
 * sends, every SYNC_MS and only for keys with new requests, what it admitted to
 * `rate_limit_counters` in one upsert per 500 keys, and learns from the returned totals what the
 * other replicas admitted (RateLimiter.learn); keys it used within the last WATCH_MS with nothing
 * new are read (one SELECT per 500 keys, by primary key) so that it learns between two requests too. The proxy's hot path never waits on the database:
 * a user can exceed the limit by about what the other replicas admit within one sync interval.
 * On SQLite (one process) nothing is registered, no timer runs and nothing is written.
 */
@Injectable()
export class SharedCounters implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('RateLimits');
  private readonly limiters = new Map<string, RateLimiter>();
  private timer: NodeJS.Timeout | null = null;
  private syncing: Promise<void> | null = null;
  private purgedWindow = 0;
  private loggedAt = 0;

  constructor(private readonly transactions: Transactions) {}

  /** Whether counts are shared (several replicas can run on PostgreSQL). */
  get shared(): boolean {
    return this.transactions.engine === 'postgres';
  }

  /** Shares `limiter`'s counts under `name` (e.g. `mcp`: its keys become `mcp:<key>`); nothing on SQLite. */
  share(name: string, limiter: RateLimiter): void {
    if (!this.shared || !limiter.enabled) return;
    limiter.share();
    this.limiters.set(name, limiter);
  }

  onApplicationBootstrap(): void {
    // On PostgreSQL the timer runs even without a limiter to share: it purges the sign-in counts too.
    if (!this.shared) return;
    this.timer = setInterval(() => void this.sync(), SYNC_MS);
    this.timer.unref();
  }

  async onModuleDestroy(): Promise<void> {
    if (!this.timer) return;
    clearInterval(this.timer);
    this.timer = null;
    // The last second's counts still reach the others (the database closes later, at application shutdown).
    await this.sync();
  }

  /**
   * Adds one to `key` in the current window of `windowMs` now, and returns the shared totals of
   * that window and the one before: one statement, for the rare counts that must be exact (sign-in attempts).
   */
  async addNow(key: string, windowMs: number, now = Date.now()): Promise<{ current: number; previous: number }> {
    const window = Math.floor(now / windowMs) * windowMs;
    const [row] = await this.transactions.query<{ count: number | string; previous: number | string | null }>(
      `INSERT INTO rate_limit_counters (key, window_start, count) VALUES (?, ?, 1)
       ON CONFLICT (key, window_start) DO UPDATE SET count = rate_limit_counters.count + 1
       RETURNING count, (SELECT p.count FROM rate_limit_counters p WHERE p.key = rate_limit_counters.key AND p.window_start = ?) AS previous`,
      [key, window, window - windowMs],
    );
    return { current: Number(row.count), previous: Number(row.previous ?? 0) };
  }

  /** One round: send every limiter's deltas, learn the totals, purge old windows once a minute. Never overlaps itself. */
  sync(now = Date.now()): Promise<void> {
    if (!this.syncing) {
      this.syncing = this.syncOnce(now)
        .catch((err: unknown) => this.logFailure(err))
        .finally(() => (this.syncing = null));
    }
    return this.syncing;
  }

  private async syncOnce(now: number): Promise<void> {
    const window = Math.floor(now / WINDOW_MS) * WINDOW_MS;
    for (const [name, limiter] of this.limiters) {
      const prefix = `${name}:`;
      // Sorted, so that two replicas upserting the same keys lock their rows in the same order (no deadlock).
      const deltas = limiter.drain(window, now).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      for (let i = 0; i < deltas.length; i += ROWS_PER_STATEMENT) {
        const chunk = deltas.slice(i, i + ROWS_PER_STATEMENT);
        // RETURNING also reads the previous minute's row: another replica's last counts there may have come after this one's last look.
        const rows = await this.transactions.query<{ key: string; count: number | string; previous: number | string | null }>(
          `INSERT INTO rate_limit_counters (key, window_start, count) VALUES ${chunk.map(() => '(?, ?, ?)').join(', ')}
           ON CONFLICT (key, window_start) DO UPDATE SET count = rate_limit_counters.count + excluded.count
           RETURNING key, count, (SELECT p.count FROM rate_limit_counters p WHERE p.key = rate_limit_counters.key AND p.window_start = ?) AS previous`,
          [...chunk.flatMap((d) => [prefix + d.key, window, d.count]), window - WINDOW_MS],
        );
        for (const row of rows) limiter.learn(row.key.slice(prefix.length), window, Number(row.count), row.previous === null ? null : Number(row.previous), now);
      }
      // Keys used here a moment ago with nothing new to send: read what the others added (no write).
      const watched = limiter.watched(now);
      for (let i = 0; i < watched.length; i += ROWS_PER_STATEMENT) {
        const chunk = watched.slice(i, i + ROWS_PER_STATEMENT);
        const rows = await this.transactions.query<{ key: string; window: number | string; count: number | string }>(
          `SELECT key, window_start AS "window", count FROM rate_limit_counters WHERE key IN (${chunk.map(() => '?').join(', ')}) AND window_start >= ?`,
          [...chunk.map((k) => prefix + k), window - WINDOW_MS],
        );
        const totals = new Map<string, { current: number; previous: number | null }>();
        for (const k of chunk) totals.set(k, { current: 0, previous: null });
        for (const row of rows) {
          const t = totals.get(row.key.slice(prefix.length));
          if (!t) continue;
          if (Number(row.window) === window) t.current = Number(row.count);
          else t.previous = Number(row.count);
        }
        for (const [k, t] of totals) limiter.learn(k, window, t.current, t.previous, now);
      }
    }
    if (window > this.purgedWindow) {
      this.purgedWindow = window;
      await this.transactions.query('DELETE FROM rate_limit_counters WHERE window_start < ?', [window - KEEP_WINDOWS * WINDOW_MS]);
    }
  }

  private logFailure(err: unknown): void {
    // The counts of this round stay local (each replica still enforces its own limit); the next round goes on.
    if (Date.now() - this.loggedAt < LOG_EVERY_MS) return;
    this.loggedAt = Date.now();
    this.logger.warn(`shared rate-limit counters not updated: ${err instanceof Error ? err.message : String(err)}`);
  }
}
