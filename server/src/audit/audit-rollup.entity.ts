import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { LATENCY_COLUMNS } from './latency-histogram';

/** The two bucket sizes kept: minutes for the edges of a range, hours for its whole hours. */
export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;

/**
 * Per-upstream traffic figures for one minute and for one hour (bucket_ms): written with each
 * batch of proxied-request audit rows, in the same transaction, so the dashboard sums a few
 * hundred of these per upstream instead of scanning the audit log. A range is read as whole hours
 * plus the minutes at its ends (at most 2 x 59), which keeps a 7-day dashboard cheap.
 *
 * The latency histogram is one integer column per bucket of latency-histogram.ts (ms_le_0 …
 * ms_gt_300000), so ranges are summed by SQL's SUM(); zero counts cost SQLite no space.
 */
@Entity('audit_rollups', { withoutRowid: true })
export class AuditRollup {
  @PrimaryColumn('integer', { name: 'bucket_ms' })
  bucketMs: number;

  @PrimaryColumn('integer', { name: 'start_at' })
  startAt: number;

  @PrimaryColumn('text', { name: 'upstream_slug' })
  upstreamSlug: string;

  /** Every proxied request to the upstream, refusals by the gateway included. */
  @Column('integer', { default: 0 })
  requests: number;

  /** Those whose audit row has outcome 'failure'. */
  @Column('integer', { default: 0 })
  errors: number;
}

// One column per histogram bucket, declared from the bucket list so the two cannot drift apart.
for (const column of LATENCY_COLUMNS) Column('integer', { default: 0 })(AuditRollup.prototype, column);

/**
 * Tool calls per upstream and tool, per minute and per hour, written with audit_rollups. A table
 * of its own: per-upstream figures then read one row per bucket, not one per tool, and the tool
 * figures read only these. It has the latency histogram too (per-tool p50/p95); zero buckets cost
 * SQLite no space.
 */
@Entity('audit_tool_rollups', { withoutRowid: true })
export class AuditToolRollup {
  @PrimaryColumn('integer', { name: 'bucket_ms' })
  bucketMs: number;

  @PrimaryColumn('integer', { name: 'start_at' })
  startAt: number;

  @PrimaryColumn('text', { name: 'upstream_slug' })
  upstreamSlug: string;

  @PrimaryColumn('text')
  tool: string;

  @Column('integer', { default: 0 })
  calls: number;

  @Column('integer', { default: 0 })
  errors: number;
}

for (const column of LATENCY_COLUMNS) Column('integer', { default: 0 })(AuditToolRollup.prototype, column);

/**
 * How many audit events of each type and outcome each minute: what the dashboard counts of the
 * rows that are not proxied requests (failed sign-ins), without reading the audit log.
 */
@Entity('audit_counts', { withoutRowid: true })
export class AuditCount {
  // Primary key (type, outcome, start_at): the dashboard reads one type and outcome over a range.
  @PrimaryColumn('text')
  type: string;

  @PrimaryColumn('text')
  outcome: string;

  /** Also indexed alone: retention deletes by time across every type. */
  @Index()
  @PrimaryColumn('integer', { name: 'start_at' })
  startAt: number;

  @Column('integer', { default: 0 })
  count: number;
}
