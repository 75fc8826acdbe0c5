import { Injectable } from '@nestjs/common';
import { HOUR_MS, MINUTE_MS } from './audit-rollup.entity';

/**
 * How long after an hour ends its rollups may still change. A row is queued with the time it is
 * recorded and its batch reaches the database within 50 ms (AuditService.record), on any replica;
 * two minutes leave room for a slow batch and for replicas' clocks that differ by less than that
 * (rows carry the time of the replica that wrote them). Only audit retention changes an hour after
 * that; a later row is counted from the next hour's sums on.
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
 * reads the rollups of the last hour or two, not of 168. One sum per window name (the names come
 * from code: '24h', '7d'), replaced when the window's ends move, i.e. when the hour turns.
 *
 * What changes settled hours is audit retention, which calls forget() when it ran here. Another
 * replica's sums still count the deleted hours until the hour turns: only a window reaching past
 * audit.retention_days (a 7-day dashboard with a shorter retention) is affected.
 */
@Injectable()
export class SettledHours {
  /** Promises, so concurrent first reads of a window share one computation. */
  private readonly kept = new Map<string, { ends: string; sums: Promise<unknown> }>();

  sums<T>(name: string, window: HourWindow, compute: (from: number, to: number) => Promise<T>): Promise<T> {
    const ends = `${window.from}:${window.settled}`;
    const kept = this.kept.get(name);
    if (kept?.ends === ends) return kept.sums as Promise<T>;
    const entry = { ends, sums: compute(window.from, window.settled) };
    this.kept.set(name, entry);
    // A failed read is not kept: the next one tries again.
    entry.sums.catch(() => this.kept.get(name) === entry && this.kept.delete(name));
    return entry.sums;
  }

  /** Drops every kept sum: after rows of past hours were deleted. */
  forget(): void {
    this.kept.clear();
  }
}
