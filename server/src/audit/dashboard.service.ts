import { Injectable } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { RangeReader, Transactions } from '../database/transactions';
import { ACTIVE_GRANTS_COUNTER, ActiveGrantsCounter } from './active-grants-counter';
import type { AuditEventType } from './audit-event-type';
import { HOUR_MS, MINUTE_MS } from './audit-rollup.entity';
import { AuditService } from './audit.service';
import { LATENCY_COLUMNS, percentileOf } from './latency-histogram';

export const DASHBOARD_RANGES = { '24h': 24 * HOUR_MS, '7d': 7 * 24 * HOUR_MS } as const;
export type DashboardRange = keyof typeof DASHBOARD_RANGES;

/** One point of a series: the hour starting at t (epoch ms). */
export interface SeriesPoint {
  t: number;
  requests: number;
  errors: number;
}

export interface UpstreamTraffic {
  slug: string;
  requests: number;
  errors: number;
  /** From the summed latency histograms of the forwarded requests; null without any. */
  p50Ms: number | null;
  p95Ms: number | null;
  series: SeriesPoint[];
}

export interface DashboardFigures {
  from: number;
  to: number;
  perUpstream: (UpstreamTraffic & { name: string })[];
  /** Null when no ActiveGrantsCounter is provided. */
  activeUsers: number | null;
  activeGrants: number | null;
  topTools: { upstream: string; tool: string; calls: number }[];
  failedSignIns: number;
  series: SeriesPoint[];
}

export const TOP_TOOLS = 10;

/** The windows of the per-tool figures (GET /admin/api/dashboard/tools?window=). */
export const TOOL_WINDOWS = { '1h': HOUR_MS, '24h': 24 * HOUR_MS, '7d': 7 * 24 * HOUR_MS } as const;
export type ToolWindow = keyof typeof TOOL_WINDOWS;

/** Calls, errors and latency of one tool of one upstream over a window. */
export interface ToolFigures {
  upstream: string;
  tool: string;
  calls: number;
  /** Calls whose audit row has outcome 'failure' (an HTTP error or a refusal by the gateway). */
  errors: number;
  /** From the summed latency histograms of the forwarded calls; null without any. */
  p50Ms: number | null;
  p95Ms: number | null;
}

const floorTo = (t: number, step: number) => t - (t % step);
const ceilTo = (t: number, step: number) => floorTo(t + step - 1, step);

/**
 * The rows of a rollup table that cover [from, to) to the minute: hour rows for the whole hours in
 * it, minute rows for its ends. As SQL: a subquery of three primary-key range scans (parameters
 * from rangeParams), so a 7-day range reads 168 hour rows and at most 118 minute rows per upstream
 * (and tool).
 */
function rowsInRange(table: 'audit_rollups' | 'audit_tool_rollups', columns: string): string {
  const range = (bucket: number) => `SELECT ${columns} FROM ${table} WHERE bucket_ms = ${bucket} AND start_at >= ? AND start_at < ?`;
  return `(${range(HOUR_MS)} UNION ALL ${range(MINUTE_MS)} UNION ALL ${range(MINUTE_MS)})`;
}
const TRAFFIC_COLUMNS = ['upstream_slug', 'requests', 'errors', ...LATENCY_COLUMNS].join(', ');
const TOOL_COLUMNS = ['upstream_slug', 'tool', 'calls', 'errors', ...LATENCY_COLUMNS].join(', ');

function rangeParams(from: number, to: number): number[] {
  const start = floorTo(from, MINUTE_MS);
  const end = ceilTo(to, MINUTE_MS);
  const firstHour = ceilTo(start, HOUR_MS);
  const lastHour = floorTo(end, HOUR_MS);
  // Within one hour (or not spanning a whole one): minutes only.
  if (firstHour >= lastHour) return [0, 0, start, end, 0, 0];
  return [firstHour, lastHour, start, firstHour, lastHour, end];
}

/**
 * The dashboard's figures, read from the per-minute and per-hour rollups the audit batches write
 * (rollup-writer.ts) and from audit_counts: never from the audit log itself.
 */
@Injectable()
export class DashboardService {
  constructor(
    private readonly transactions: Transactions,
    private readonly audit: AuditService,
    private readonly moduleRef: ModuleRef,
  ) {}

  /**
   * The figures of the last 24 hours or 7 days. `upstreams` names the registered upstreams (audit/
   * does not read the registry): each is listed, with zeros when it had no traffic; a slug with
   * traffic but no longer registered is listed under its slug.
   */
  async figures(range: DashboardRange, upstreams: { slug: string; name: string }[] = [], now = Date.now()): Promise<DashboardFigures> {
    const from = now - DASHBOARD_RANGES[range];
    await this.audit.flush();
    const hours = hoursOf(from, now);
    const names = new Map(upstreams.map((u) => [u.slug, u.name]));
    // The range reads on one connection (Transactions.rangeReads); the live-grant counts are the OAuth module's.
    const read = await this.transactions.rangeReads(async (r) => ({
      traffic: await this.trafficIn(r, from, now),
      topTools: await this.topTools(r, from, now, TOP_TOOLS),
      failedSignIns: await this.count(r, 'login', 'failure', from, now),
    }));
    const perUpstream = read.traffic.map((u) => ({ ...u, name: names.get(u.slug) ?? u.slug }));
    const listed = new Set(perUpstream.map((u) => u.slug));
    for (const { slug, name } of upstreams) {
      if (!listed.has(slug)) perUpstream.push({ slug, name, requests: 0, errors: 0, p50Ms: null, p95Ms: null, series: hours.map((t) => ({ t, requests: 0, errors: 0 })) });
    }
    const active = await this.activeGrants();
    return {
      from,
      to: now,
      perUpstream,
      activeUsers: active?.users ?? null,
      activeGrants: active?.grants ?? null,
      topTools: read.topTools,
      failedSignIns: read.failedSignIns,
      series: sumSeries(perUpstream, hours),
    };
  }

  /**
   * Requests, errors, p50/p95 and an hourly series per upstream over [from, to) (to the minute),
   * busiest first. Public for the upstreams list's 24-hour status as well.
   */
  traffic(from: number, to: number): Promise<UpstreamTraffic[]> {
    return this.transactions.rangeReads((read) => this.trafficIn(read, from, to));
  }

  private async trafficIn(read: RangeReader, from: number, to: number): Promise<UpstreamTraffic[]> {
    const params = rangeParams(from, to);
    const sums = await read.query<[string, number, number, ...number[]]>(
      `SELECT upstream_slug AS slug, SUM(requests) AS requests, SUM(errors) AS errors, ${LATENCY_COLUMNS.map((c) => `SUM(${c})`).join(', ')}
       FROM ${rowsInRange('audit_rollups', TRAFFIC_COLUMNS)} AS r GROUP BY upstream_slug ORDER BY SUM(requests) DESC, upstream_slug`,
      params,
      true,
    );
    const hourly = await read.query<[string, number, number, number]>(
      `SELECT upstream_slug, start_at - start_at % ${HOUR_MS} AS t, SUM(requests), SUM(errors)
       FROM ${rowsInRange('audit_rollups', 'upstream_slug, start_at, requests, errors')} AS r GROUP BY upstream_slug, t`,
      params,
      true,
    );
    const hours = hoursOf(from, to);
    const seriesOf = new Map<string, Map<number, SeriesPoint>>();
    for (const [slug, t, requests, errors] of hourly) {
      let points = seriesOf.get(slug);
      if (!points) seriesOf.set(slug, (points = new Map<number, SeriesPoint>()));
      points.set(t, { t, requests, errors });
    }
    return sums.map(([slug, requests, errors, ...latency]) => {
      const points = seriesOf.get(slug);
      return {
        slug,
        requests,
        errors,
        p50Ms: roundMs(percentileOf(latency, 50)),
        p95Ms: roundMs(percentileOf(latency, 95)),
        series: hours.map((t) => points?.get(t) ?? { t, requests: 0, errors: 0 }),
      };
    });
  }

  /** The most called tools over [from, to), with their upstream. */
  private topTools(read: RangeReader, from: number, to: number, limit: number): Promise<{ upstream: string; tool: string; calls: number }[]> {
    return read.query(
      `SELECT upstream_slug AS upstream, tool, SUM(calls) AS calls FROM ${rowsInRange('audit_tool_rollups', 'upstream_slug, tool, calls')} AS r
       GROUP BY upstream_slug, tool ORDER BY calls DESC, upstream_slug, tool LIMIT ?`,
      [...rangeParams(from, to), limit],
    );
  }

  /**
   * Per tool (and upstream): calls, errors, p50/p95 over [from, to) to the minute, most called
   * first, at most `limit`; only the upstream's tools when `upstream` is given.
   */
  async toolFigures(from: number, to: number, opts: { upstream?: string; limit: number }): Promise<ToolFigures[]> {
    const where = opts.upstream === undefined ? '' : 'WHERE upstream_slug = ?';
    const rows = await this.transactions.rangeReads((read) =>
      read.query<[string, string, number, number, ...number[]]>(
        `SELECT upstream_slug, tool, SUM(calls) AS calls, SUM(errors), ${LATENCY_COLUMNS.map((c) => `SUM(${c})`).join(', ')}
       FROM ${rowsInRange('audit_tool_rollups', TOOL_COLUMNS)} AS r ${where} GROUP BY upstream_slug, tool ORDER BY calls DESC, upstream_slug, tool LIMIT ?`,
        [...rangeParams(from, to), ...(opts.upstream === undefined ? [] : [opts.upstream]), opts.limit],
        true,
      ),
    );
    return rows.map(([upstream, tool, calls, errors, ...latency]) => ({
      upstream,
      tool,
      calls,
      errors,
      p50Ms: roundMs(percentileOf(latency, 50)),
      p95Ms: roundMs(percentileOf(latency, 95)),
    }));
  }

  /** toolFigures over the last `window`, once the queued audit rows are written. */
  async tools(window: ToolWindow, opts: { upstream?: string; limit: number }, now = Date.now()): Promise<ToolFigures[]> {
    await this.audit.flush();
    return this.toolFigures(now - TOOL_WINDOWS[window], now, opts);
  }

  /** How many audit events of a type and outcome were recorded in [from, to), to the minute. */
  private async count(read: RangeReader, type: AuditEventType, outcome: 'success' | 'failure', from: number, to: number): Promise<number> {
    const [row] = await read.query<{ n: number }>('SELECT COALESCE(SUM(count), 0) AS n FROM audit_counts WHERE type = ? AND outcome = ? AND start_at >= ? AND start_at < ?', [
      type,
      outcome,
      floorTo(from, MINUTE_MS),
      ceilTo(to, MINUTE_MS),
    ]);
    return row.n;
  }

  private async activeGrants(): Promise<{ grants: number; users: number } | null> {
    let counter: ActiveGrantsCounter;
    try {
      counter = this.moduleRef.get<ActiveGrantsCounter>(ACTIVE_GRANTS_COUNTER, { strict: false });
    } catch {
      return null; // not provided (yet): see active-grants-counter.ts
    }
    return counter.countActiveGrants();
  }
}

/** The start of every hour that [from, to) touches. */
function hoursOf(from: number, to: number): number[] {
  const hours: number[] = [];
  for (let t = floorTo(from, HOUR_MS); t < to; t += HOUR_MS) hours.push(t);
  return hours;
}

function sumSeries(perUpstream: UpstreamTraffic[], hours: number[]): SeriesPoint[] {
  return hours.map((t, i) => {
    let requests = 0;
    let errors = 0;
    for (const u of perUpstream) {
      requests += u.series[i].requests;
      errors += u.series[i].errors;
    }
    return { t, requests, errors };
  });
}

function roundMs(ms: number | null): number | null {
  return ms === null ? null : Math.round(ms * 10) / 10;
}
