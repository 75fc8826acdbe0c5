import { Injectable } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { RangeReader, Transactions } from '../database/transactions';
import { ACTIVE_GRANTS_COUNTER, ActiveGrantsCounter } from './active-grants-counter';
import { HOUR_MS, MINUTE_MS } from './audit-rollup.entity';
import { AuditService } from './audit.service';
import { LATENCY_COLUMNS, percentileOf } from './latency-histogram';
import { HourWindow, hourWindow, SettledHours } from './settled-hours';

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
 * from rangeParams). The console's windows of a day or more are whole hours (settled-hours.ts), so
 * they read hour rows only; the tools page's last hour reads at most 118 minute rows per tool.
 */
function rowsInRange(table: 'audit_rollups' | 'audit_tool_rollups', columns: string): string {
  const range = (bucket: number) => `SELECT ${columns} FROM ${table} WHERE bucket_ms = ${bucket} AND start_at >= ? AND start_at < ?`;
  return `(${range(HOUR_MS)} UNION ALL ${range(MINUTE_MS)} UNION ALL ${range(MINUTE_MS)})`;
}
const TRAFFIC_COLUMNS = ['upstream_slug', 'requests', 'errors', ...LATENCY_COLUMNS].join(', ');
const TOOL_COLUMNS = ['upstream_slug', 'tool', 'calls', 'errors', ...LATENCY_COLUMNS].join(', ');
const LATENCY_SUMS = LATENCY_COLUMNS.map((c) => `SUM(${c})`).join(', ');

const TRAFFIC_SUMS = `SELECT upstream_slug, SUM(requests), SUM(errors), ${LATENCY_SUMS} FROM ${rowsInRange('audit_rollups', TRAFFIC_COLUMNS)} AS r GROUP BY upstream_slug`;
const HOURLY_SUMS = `SELECT upstream_slug, start_at - start_at % ${HOUR_MS} AS t, SUM(requests), SUM(errors)
  FROM ${rowsInRange('audit_rollups', 'upstream_slug, start_at, requests, errors')} AS r GROUP BY upstream_slug, t`;
/** Per upstream and tool; `ranked` orders them most called first (for a LIMIT of what is shown). */
const toolSums = (where: string, ranked: boolean) =>
  `SELECT upstream_slug, tool, SUM(calls) AS calls, SUM(errors), ${LATENCY_SUMS} FROM ${rowsInRange('audit_tool_rollups', TOOL_COLUMNS)} AS r ${where}
   GROUP BY upstream_slug, tool ${ranked ? 'ORDER BY calls DESC, upstream_slug, tool' : ''} LIMIT ?`;
const FAILED_SIGN_INS = "SELECT COALESCE(SUM(count), 0) FROM audit_counts WHERE type = 'login' AND outcome = 'failure' AND start_at >= ? AND start_at < ?";

/**
 * Tool rows of a window kept in memory at most (tool names are the callers' choice: a client may
 * call thousands of made-up names). A window with more is ranked by SQL's ORDER BY … LIMIT instead.
 */
export const MAX_KEPT_TOOLS = 2_000;

function rangeParams(from: number, to: number): number[] {
  const start = floorTo(from, MINUTE_MS);
  const end = ceilTo(to, MINUTE_MS);
  const firstHour = ceilTo(start, HOUR_MS);
  const lastHour = floorTo(end, HOUR_MS);
  // Within one hour (or not spanning a whole one): minutes only.
  if (firstHour >= lastHour) return [0, 0, start, end, 0, 0];
  return [firstHour, lastHour, start, firstHour, lastHour, end];
}

type TrafficRow = [slug: string, requests: number, errors: number, ...latency: number[]];
type HourlyRow = [slug: string, t: number, requests: number, errors: number];
type ToolRow = [upstream: string, tool: string, calls: number, errors: number, ...latency: number[]];

/** The rollups of a range, summed: what a window's figures are made of. */
interface RangeSums {
  traffic: TrafficRow[];
  hourly: HourlyRow[];
  /** Null when the range has more than MAX_KEPT_TOOLS. */
  tools: ToolRow[] | null;
  failedSignIns: number;
}

const NO_SUMS: RangeSums = { traffic: [], hourly: [], tools: [], failedSignIns: 0 };

/**
 * The dashboard's figures, read from the per-minute and per-hour rollups the audit batches write
 * (rollup-writer.ts) and from audit_counts: never from the audit log itself. Windows of a day or
 * more are whole hours, and the sums of their settled hours are kept (SettledHours).
 */
@Injectable()
export class DashboardService {
  constructor(
    private readonly transactions: Transactions,
    private readonly audit: AuditService,
    private readonly settledHours: SettledHours,
    private readonly moduleRef: ModuleRef,
  ) {}

  /**
   * The figures of the last 24 hours or 7 days, in whole hours (from the start of the first).
   * `upstreams` names the registered upstreams (audit/ does not read the registry): each is
   * listed, with zeros when it had no traffic; a slug with traffic but no longer registered is
   * listed under its slug.
   */
  async figures(range: DashboardRange, upstreams: { slug: string; name: string }[] = [], now = Date.now()): Promise<DashboardFigures> {
    await this.audit.flush();
    const window = hourWindow(DASHBOARD_RANGES[range], now);
    const hours = hoursOf(window.from, now);
    const sums = await this.windowSums(range, window);
    const names = new Map(upstreams.map((u) => [u.slug, u.name]));
    const perUpstream = trafficOf(sums, hours).map((u) => ({ ...u, name: names.get(u.slug) ?? u.slug }));
    const listed = new Set(perUpstream.map((u) => u.slug));
    for (const { slug, name } of upstreams) {
      if (!listed.has(slug)) perUpstream.push({ slug, name, requests: 0, errors: 0, p50Ms: null, p95Ms: null, series: hours.map((t) => ({ t, requests: 0, errors: 0 })) });
    }
    const topTools = sums.tools
      ? mostCalled(sums.tools, TOP_TOOLS).map(([upstream, tool, calls]) => ({ upstream, tool, calls }))
      : (await this.rankedTools(window.from, window.to, { limit: TOP_TOOLS })).map(({ upstream, tool, calls }) => ({ upstream, tool, calls }));
    // The live-grant counts are the OAuth module's.
    const active = await this.activeGrants();
    return {
      from: window.from,
      to: now,
      perUpstream,
      activeUsers: active?.users ?? null,
      activeGrants: active?.grants ?? null,
      topTools,
      failedSignIns: sums.failedSignIns,
      series: sumSeries(perUpstream, hours),
    };
  }

  /** Requests, errors, p50/p95 and an hourly series per upstream over a window, busiest first (the upstreams list's status). */
  async traffic(range: DashboardRange, now = Date.now()): Promise<UpstreamTraffic[]> {
    const window = hourWindow(DASHBOARD_RANGES[range], now);
    return trafficOf(await this.windowSums(range, window), hoursOf(window.from, now));
  }

  /**
   * Per tool (and upstream) over the last `window`, once the queued audit rows are written:
   * calls, errors, p50/p95, most called first, at most `limit`; only the upstream's tools when
   * `upstream` is given. The last hour is counted to the minute, longer windows in whole hours.
   */
  async tools(window: ToolWindow, opts: { upstream?: string; limit: number }, now = Date.now()): Promise<ToolFigures[]> {
    await this.audit.flush();
    const length = TOOL_WINDOWS[window];
    if (length < DASHBOARD_RANGES['24h']) return this.rankedTools(now - length, now, opts);
    const hours = hourWindow(length, now);
    const { tools } = await this.windowSums(window, hours);
    if (!tools) return this.rankedTools(hours.from, hours.to, opts);
    return mostCalled(opts.upstream === undefined ? tools : tools.filter(([upstream]) => upstream === opts.upstream), opts.limit).map(toolFigures);
  }

  /**
   * A window's sums on one connection (Transactions.rangeReads): those of its settled hours as
   * kept (computed on the first read after the hour turned), the rest read now.
   */
  private windowSums(name: string, window: HourWindow): Promise<RangeSums> {
    return this.transactions.rangeReads(async (read) => {
      const settled = await this.settledHours.sums(name, window, (from, to) => this.rangeSums(read, from, to));
      return addSums(settled, await this.rangeSums(read, window.settled, window.to));
    });
  }

  private async rangeSums(read: RangeReader, from: number, to: number): Promise<RangeSums> {
    if (from >= to) return NO_SUMS;
    const params = rangeParams(from, to);
    const tools = await read.query<ToolRow>(toolSums('', false), [...params, MAX_KEPT_TOOLS + 1], true);
    const [[failedSignIns]] = await read.query<[number]>(FAILED_SIGN_INS, [floorTo(from, MINUTE_MS), ceilTo(to, MINUTE_MS)], true);
    return {
      traffic: await read.query<TrafficRow>(TRAFFIC_SUMS, params, true),
      hourly: await read.query<HourlyRow>(HOURLY_SUMS, params, true),
      tools: tools.length > MAX_KEPT_TOOLS ? null : tools,
      failedSignIns,
    };
  }

  /** Per tool over [from, to) to the minute, ranked and limited by SQL. */
  private async rankedTools(from: number, to: number, opts: { upstream?: string; limit: number }): Promise<ToolFigures[]> {
    const where = opts.upstream === undefined ? '' : 'WHERE upstream_slug = ?';
    const rows = await this.transactions.rangeReads((read) =>
      read.query<ToolRow>(toolSums(where, true), [...rangeParams(from, to), ...(opts.upstream === undefined ? [] : [opts.upstream]), opts.limit], true),
    );
    return rows.map(toolFigures);
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

/** Two ranges' sums as one (the ranges do not overlap): kept rows are copied, never changed. */
function addSums(a: RangeSums, b: RangeSums): RangeSums {
  if (b === NO_SUMS) return a;
  return {
    traffic: addRows(a.traffic, b.traffic, 1),
    hourly: [...a.hourly, ...b.hourly],
    tools: a.tools && b.tools ? addRows(a.tools, b.tools, 2) : null,
    failedSignIns: Number(a.failedSignIns) + Number(b.failedSignIns),
  };
}

/** Rows with the same first `keyLength` values as one, their other values added. */
function addRows<R extends (string | number)[]>(a: R[], b: R[], keyLength: number): R[] {
  const byKey = new Map<string, R>();
  for (const row of [...a, ...b]) {
    const key = row.slice(0, keyLength).join('\n');
    const seen = byKey.get(key);
    if (!seen) byKey.set(key, [...row] as R);
    else for (let i = keyLength; i < row.length; i++) (seen[i] as number) = Number(seen[i]) + Number(row[i]);
  }
  return [...byKey.values()];
}

/** Ties in code-unit order of the names, the same on both engines (PostgreSQL's ORDER BY follows its collation). */
const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function mostCalled(tools: ToolRow[], limit: number): ToolRow[] {
  return [...tools].sort((a, b) => b[2] - a[2] || byName(a[0], b[0]) || byName(a[1], b[1])).slice(0, limit);
}

function trafficOf(sums: RangeSums, hours: number[]): UpstreamTraffic[] {
  const seriesOf = new Map<string, Map<number, SeriesPoint>>();
  for (const [slug, t, requests, errors] of sums.hourly) {
    let points = seriesOf.get(slug);
    if (!points) seriesOf.set(slug, (points = new Map<number, SeriesPoint>()));
    const point = points.get(t);
    if (point) {
      point.requests += requests;
      point.errors += errors;
    } else points.set(t, { t, requests, errors });
  }
  return [...sums.traffic]
    .sort((a, b) => b[1] - a[1] || byName(a[0], b[0]))
    .map(([slug, requests, errors, ...latency]) => {
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

function toolFigures([upstream, tool, calls, errors, ...latency]: ToolRow): ToolFigures {
  return { upstream, tool, calls, errors, p50Ms: roundMs(percentileOf(latency, 50)), p95Ms: roundMs(percentileOf(latency, 95)) };
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
