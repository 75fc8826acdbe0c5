import { Injectable } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import { HOUR_MS, MINUTE_MS } from './audit-rollup.entity';

/**
 * How long after an hour ends its rollups may still change. A row is queued with the time it is
 * recorded and its batch reaches the database within 50 ms (AuditService.record), on any replica;
 * two minutes leave room for a slow batch. Only audit retention changes an hour after that.
 */
export const SETTLE_MS = 2 * MINUTE_MS;

/**
 * A window of the console counted in whole hours: [from, to) from the start of the hour `length`
 * ago to the end of the current hour (which holds nothing after now), so a day is 25 hour rows
 * per upstream and never a minute row. The hours before `settled` no longer change.
 */
export interface HourWindow {
  from: number;
  to: number;
  settled: number;
}

export function hourWindow(length: number, now: number): HourWindow {
  const from = now - length - ((now - length) % HOUR_MS);
  const to = now - (now % HOUR_MS) + HOUR_MS;
  const settling = now - SETTLE_MS;
  return { from, to, settled: Math.max(from, settling - (settling % HOUR_MS)) };
}

/**
 * Sums of the settled hours of the console's windows, computed once per hour of the clock and
 * kept (issue 14: the dashboard's cost stays flat as the audit log grows): a 7-day dashboard then
 * reads the rollups of the last hour or two, not of 168. A kept sum is found by the window's name
 * and its two ends, so the turn of the hour makes the next read compute the new one; the few
 * windows the console has (names come from code) and the LRU bound keep this small.
 *
 * What changes settled hours is audit retention, which calls forget() when it ran here. Another
 * replica's sums still count the deleted hours until the hour turns: only a window reaching past
 * audit.retention_days (a 7-day dashboard with a shorter retention) is affected.
 */
@Injectable()
export class SettledHours {
  /** Promises, so concurrent first reads of a window share one computation. */
  private readonly kept = new LRUCache<string, Promise<unknown>>({ max: 16 });

  sums<T>(name: string, window: HourWindow, compute: (from: number, to: number) => Promise<T>): Promise<T> {
    const key = `${name}:${window.from}:${window.settled}`;
    let sums = this.kept.get(key) as Promise<T> | undefined;
    if (!sums) {
      sums = compute(window.from, window.settled);
      this.kept.set(key, sums);
      // A failed read is not kept: the next one tries again.
      sums.catch(() => this.kept.get(key) === sums && this.kept.delete(key));
    }
    return sums;
  }

  /** Drops every kept sum: after rows of past hours were deleted. */
  forget(): void {
    this.kept.clear();
  }
}
