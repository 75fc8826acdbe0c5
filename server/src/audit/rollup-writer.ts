import type { Transactions, Tx } from '../database/transactions';
import { AuditEvent, PROXIED_REQUEST_TYPE } from './audit-event.entity';
import { HOUR_MS, MINUTE_MS } from './audit-rollup.entity';
import { LATENCY_BUCKETS, LATENCY_COLUMNS, latencyBucket } from './latency-histogram';
import { boundedToolName } from './tool-arguments';

/** The fields of an audit row the rollups read. */
export type RollupInput = Pick<AuditEvent, 'at' | 'type' | 'outcome'> & Partial<Pick<AuditEvent, 'upstreamSlug' | 'tool' | 'mcpMethod' | 'durationMs'>>;

interface TrafficSum {
  minute: number;
  upstream: string;
  requests: number;
  errors: number;
  latency: number[] | null;
}

interface ToolSum {
  minute: number;
  upstream: string;
  tool: string;
  calls: number;
  errors: number;
  latency: number[] | null;
}

const minuteOf = (at: number) => at - (at % MINUTE_MS);
const hourOf = (at: number) => at - (at % HOUR_MS);

/**
 * Keeps audit_rollups and audit_counts in step with the audit log. It runs inside the transaction
 * that writes the rows it counts (so figures and log commit together), with hand-written upserts
 * both engines accept (prepared once per connection on SQLite):
 * - countBatch: a batch of proxied-request rows, summed in memory first, so a batch of 64 rows is a
 *   handful of upserts (one per minute and upstream, and again per hour; the same per tool; one per
 *   minute, type and outcome);
 * - countOne: a single row written at once (recordIn/recordNow): one upsert into audit_counts.
 *
 * A proxied request is a row queued by AuditService.record() that names an upstream; its latency
 * counts when the gateway forwarded it (PROXIED_REQUEST_TYPE) and it is not a standalone GET stream,
 * whose duration is how long the client listened, not how fast the upstream answered.
 */
export class RollupWriter {
  private readonly zeroLatency: number[] = new Array<number>(LATENCY_BUCKETS).fill(0);

  async countBatch(tx: Tx, rows: readonly RollupInput[]): Promise<void> {
    const traffic = new Map<string, TrafficSum>();
    const tools = new Map<string, ToolSum>();
    const counts = new Map<string, { type: string; outcome: string; minute: number; count: number }>();
    for (const row of rows) {
      const minute = minuteOf(row.at);
      const countKey = `${row.type}\n${row.outcome}\n${minute}`;
      const count = counts.get(countKey);
      if (count) count.count++;
      else counts.set(countKey, { type: row.type, outcome: row.outcome, minute, count: 1 });
      if (!row.upstreamSlug) continue;
      const failed = row.outcome === 'failure' ? 1 : 0;
      const key = `${minute}\n${row.upstreamSlug}`;
      let sum = traffic.get(key);
      if (!sum) traffic.set(key, (sum = { minute, upstream: row.upstreamSlug, requests: 0, errors: 0, latency: null }));
      sum.requests++;
      sum.errors += failed;
      const bucket = row.type === PROXIED_REQUEST_TYPE && row.mcpMethod !== 'GET' && typeof row.durationMs === 'number' ? latencyBucket(row.durationMs) : -1;
      if (bucket >= 0) (sum.latency ??= new Array<number>(LATENCY_BUCKETS).fill(0))[bucket]++;
      if (!row.tool) continue;
      // AuditService bounds the name; this bounds a row written some other way too (the key is an outsider's choice).
      const tool = boundedToolName(row.tool);
      const toolKey = `${key}\n${tool}`;
      let call = tools.get(toolKey);
      if (!call) tools.set(toolKey, (call = { minute, upstream: row.upstreamSlug, tool, calls: 0, errors: 0, latency: null }));
      call.calls++;
      call.errors += failed;
      if (bucket >= 0) (call.latency ??= new Array<number>(LATENCY_BUCKETS).fill(0))[bucket]++;
    }
    for (const s of traffic.values()) {
      const latency = s.latency ?? this.zeroLatency;
      await tx.execute(UPSERT_TRAFFIC, [MINUTE_MS, s.minute, s.upstream, s.requests, s.errors, ...latency]);
      await tx.execute(UPSERT_TRAFFIC, [HOUR_MS, hourOf(s.minute), s.upstream, s.requests, s.errors, ...latency]);
    }
    for (const t of tools.values()) {
      const latency = t.latency ?? this.zeroLatency;
      await tx.execute(UPSERT_TOOL, [MINUTE_MS, t.minute, t.upstream, t.tool, t.calls, t.errors, ...latency]);
      await tx.execute(UPSERT_TOOL, [HOUR_MS, hourOf(t.minute), t.upstream, t.tool, t.calls, t.errors, ...latency]);
    }
    for (const c of counts.values()) await tx.execute(UPSERT_COUNT, [c.type, c.outcome, c.minute, c.count]);
  }

  async countOne(tx: Tx, row: Pick<RollupInput, 'at' | 'type' | 'outcome'>): Promise<void> {
    await tx.execute(UPSERT_COUNT, [row.type, row.outcome, minuteOf(row.at), 1]);
  }
}

// The target columns are qualified by the table's name: PostgreSQL finds a bare name ambiguous beside excluded.
const add = (table: string) => (c: string) => `${c} = ${table}.${c} + excluded.${c}`;
const LATENCY = LATENCY_COLUMNS.join(', ');
const UPSERT_TRAFFIC = `INSERT INTO audit_rollups (bucket_ms, start_at, upstream_slug, requests, errors, ${LATENCY}) VALUES (${new Array(5 + LATENCY_BUCKETS).fill('?').join(', ')})
  ON CONFLICT (bucket_ms, start_at, upstream_slug) DO UPDATE SET ${['requests', 'errors', ...LATENCY_COLUMNS].map(add('audit_rollups')).join(', ')}`;
const UPSERT_TOOL = `INSERT INTO audit_tool_rollups (bucket_ms, start_at, upstream_slug, tool, calls, errors, ${LATENCY}) VALUES (${new Array(6 + LATENCY_BUCKETS).fill('?').join(', ')})
  ON CONFLICT (bucket_ms, start_at, upstream_slug, tool) DO UPDATE SET ${['calls', 'errors', ...LATENCY_COLUMNS].map(add('audit_tool_rollups')).join(', ')}`;
const UPSERT_COUNT = `INSERT INTO audit_counts (type, outcome, start_at, count) VALUES (?, ?, ?, ?) ON CONFLICT (type, outcome, start_at) DO UPDATE SET ${add('audit_counts')('count')}`;

const ROLLUP_KEYS: Record<string, string> = {
  audit_rollups: 'bucket_ms, start_at, upstream_slug',
  audit_tool_rollups: 'bucket_ms, start_at, upstream_slug, tool',
  audit_counts: 'type, outcome, start_at',
};

/**
 * Deletes rollups and counts of buckets that start before `cutoff` (audit retention), `batch` rows
 * per transaction by primary key (these tables have no rowid: a row value names the key, standard
 * SQL both engines accept). `between` runs between batches (yield to the event loop); false stops early.
 */
export async function deleteRollupsBefore(transactions: Transactions, cutoff: number, opts: { batch: number; between: () => Promise<boolean> | boolean }): Promise<void> {
  const jobs: Array<[table: string, where: string, params: number[]]> = [];
  for (const table of ['audit_rollups', 'audit_tool_rollups']) {
    jobs.push([table, 'bucket_ms = ? AND start_at < ?', [MINUTE_MS, cutoff]]);
    // An hour is kept while any of it is within retention.
    jobs.push([table, 'bucket_ms = ? AND start_at < ?', [HOUR_MS, cutoff - HOUR_MS + 1]]);
  }
  jobs.push(['audit_counts', 'start_at < ?', [cutoff]]);
  for (const [table, where, params] of jobs) {
    const key = ROLLUP_KEYS[table];
    const sql = `DELETE FROM ${table} WHERE (${key}) IN (SELECT ${key} FROM ${table} WHERE ${where} LIMIT ${opts.batch})`;
    while ((await transactions.run((tx) => tx.execute(sql, params))) === opts.batch) {
      if (!(await opts.between())) return;
    }
  }
}
