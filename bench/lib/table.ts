/** The printed table: one row per metric, one column per target, then the gateway's ratios. */
import type { PerTarget } from './context';
import { round } from './stats';

export interface Row {
  metric: string;
  unit: string;
  values: PerTarget<number | null>;
  digits: number;
}

export function row(metric: string, unit: string, values: PerTarget<number | null>, digits: number): Row {
  return { metric, unit, values, digits };
}

export function ratio(a: number | null, b: number | null): number | null {
  return a === null || b === null || !b ? null : round(a / b, 3);
}

/** Rounds every number property to 4 decimals (keeps latest.json readable). */
export function roundAll<T extends object>(o: T): T {
  const r: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) r[k] = typeof v === 'number' ? round(v, 4) : v;
  return r as T;
}

export function formatTable(rows: Row[]): string {
  const header = ['metric', 'unit', 'direct', 'bare proxy', 'gateway', 'gw/direct', 'gw/bare'];
  const fmt = (v: number | null, d: number) => (v === null || !Number.isFinite(v) ? '-' : v.toFixed(d));
  const fmtRatio = (v: number | null) => (v === null ? '-' : `${v.toFixed(2)}x`);
  const body = rows.map((r) => [
    r.metric,
    r.unit,
    fmt(r.values.direct, r.digits),
    fmt(r.values.bare, r.digits),
    fmt(r.values.gateway, r.digits),
    fmtRatio(ratio(r.values.gateway, r.values.direct)),
    fmtRatio(ratio(r.values.gateway, r.values.bare)),
  ]);
  return formatColumns(header, body, [0, 1]).join('\n');
}

/**
 * Text columns under a header and a rule of dashes, two spaces apart, each as wide as its widest
 * cell: the columns in `leftAligned` (labels) padded on the right, the others (numbers) on the left.
 * One line a string. Every bench table is printed through it.
 */
export function formatColumns(header: string[], body: string[][], leftAligned: number[]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (leftAligned.includes(i) ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)];
}
