import type BetterSqlite3 from 'better-sqlite3';
import type { Transactions } from '../database/transactions';
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
 * that writes the rows it counts (so figures and log commit together), with statements prepared
 * once per connection:
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
  private db: BetterSqlite3.Database | null = null;
  private upsertTraffic!: BetterSqlite3.Statement;
  private upsertTool!: BetterSqlite3.Statement;
  private upsertCount!: BetterSqlite3.Statement;
  private readonly zeroLatency: number[] = new Array<number>(LATENCY_BUCKETS).fill(0);

  countBatch(db: BetterSqlite3.Database, rows: readonly RollupInput[]): void {
    this.prepare(db);
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
      this.upsertTraffic.run(MINUTE_MS, s.minute, s.upstream, s.requests, s.errors, ...latency);
      this.upsertTraffic.run(HOUR_MS, hourOf(s.minute), s.upstream, s.requests, s.errors, ...latency);
    }
    for (const t of tools.values()) {
      const latency = t.latency ?? this.zeroLatency;
      this.upsertTool.run(MINUTE_MS, t.minute, t.upstream, t.tool, t.calls, t.errors, ...latency);
      this.upsertTool.run(HOUR_MS, hourOf(t.minute), t.upstream, t.tool, t.calls, t.errors, ...latency);
    }
    for (const c of counts.values()) this.upsertCount.run(c.type, c.outcome, c.minute, c.count);
  }

  countOne(db: BetterSqlite3.Database, row: Pick<RollupInput, 'at' | 'type' | 'outcome'>): void {
    this.prepare(db);
    this.upsertCount.run(row.type, row.outcome, minuteOf(row.at), 1);
  }

  private prepare(db: BetterSqlite3.Database): void {
    if (this.db === db) return;
    const latency = LATENCY_COLUMNS.join(', ');
    const add = (c: string) => `${c} = ${c} + excluded.${c}`;
    this.upsertTraffic = db.prepare(
      `INSERT INTO audit_rollups (bucket_ms, start_at, upstream_slug, requests, errors, ${latency}) VALUES (${new Array(5 + LATENCY_BUCKETS).fill('?').join(', ')})
       ON CONFLICT (bucket_ms, start_at, upstream_slug) DO UPDATE SET ${['requests', 'errors', ...LATENCY_COLUMNS].map(add).join(', ')}`,
    );
    this.upsertTool = db.prepare(
      `INSERT INTO audit_tool_rollups (bucket_ms, start_at, upstream_slug, tool, calls, errors, ${latency}) VALUES (${new Array(6 + LATENCY_BUCKETS).fill('?').join(', ')})
       ON CONFLICT (bucket_ms, start_at, upstream_slug, tool) DO UPDATE SET ${['calls', 'errors', ...LATENCY_COLUMNS].map(add).join(', ')}`,
    );
    this.upsertCount = db.prepare(
      'INSERT INTO audit_counts (type, outcome, start_at, count) VALUES (?, ?, ?, ?) ON CONFLICT (type, outcome, start_at) DO UPDATE SET count = count + excluded.count',
    );
    this.db = db;
  }
}

const ROLLUP_KEYS: Record<string, string> = {
  audit_rollups: 'bucket_ms, start_at, upstream_slug',
  audit_tool_rollups: 'bucket_ms, start_at, upstream_slug, tool',
  audit_counts: 'type, outcome, start_at',
};

/**
 * Deletes rollups and counts of buckets that start before `cutoff` (audit retention), `batch` rows
 * per transaction by primary key (these tables have no rowid: a row value names the key, standard
 * SQL). `between` runs between batches (yield to the event loop); false stops early.
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
    while (transactions.run((tx) => tx.db.prepare(sql).run(...params).changes) === opts.batch) {
      if (!(await opts.between())) return;
    }
  }
}
