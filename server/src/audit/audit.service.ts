import { BeforeApplicationShutdown, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import { ConfigService } from '../config/config.service';
import { Transactions, Tx } from '../database/transactions';
import { AuditEvent } from './audit-event.entity';
import type { AuditEventType } from './audit-event-type';
import { SettledHours } from './settled-hours';
import { deleteRollupsBefore, RollupWriter } from './rollup-writer';
import { boundedToolName } from './tool-arguments';

const DAY = 24 * 3600_000;
/** Rows per DELETE of audit retention: a few milliseconds of synchronous SQLite each. */
export const RETENTION_BATCH = 2_000;

/** Lets queued I/O (requests, audit batches) run before the next batch of a long job. */
const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

type QueuedEvent = AuditRecord & { at: number };

/** A row to write: `type` is one of AUDIT_EVENT_TYPES (a typo fails to compile). */
export type AuditRecord = Omit<Partial<AuditEvent>, 'id' | 'at' | 'type'> & Pick<AuditEvent, 'outcome'> & { type: AuditEventType };

/** The most a crash (kill -9) can lose of batched rows: what was queued in the last 50 ms. */
export const FLUSH_EVERY_MS = 50;
/** Small batches keep each synchronous write short (about 10 µs a row), so the event loop never stalls long. */
const FLUSH_AT_ROWS = 64;

/**
 * Three ways to write an audit row:
 * - recordIn(tx, …): in the transaction of the change it records (a token issued, a grant revoked,
 *   a secret written): a crash keeps both or neither. For every security event that changes state.
 * - recordNow(…): at once, before returning, for security events that change nothing (a failed
 *   login, a denied consent).
 * - record(…): queued and written in batches, for the proxy's per-request rows, whose volume makes
 *   a write per row too costly on the hot path. The queue is flushed within 50 ms of its first
 *   row, when 64 are waiting, and on shutdown: a clean stop loses none, kill -9 the last ≤ 50 ms.
 *
 * The dashboard's figures (audit_rollups, audit_counts; see rollup-writer.ts) are written in the
 * same transaction as the rows they count: a batch's per-upstream sums are added once per batch,
 * so record() itself stays a queue push.
 */
@Injectable()
export class AuditService implements OnModuleInit, BeforeApplicationShutdown {
  private readonly logger = new Logger('Audit');
  private queue: QueuedEvent[] = [];
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();
  private retentionTimer: NodeJS.Timeout | null = null;
  private retention: Promise<number> | null = null;
  private stopping = false;
  private readonly listeners: Array<(event: AuditRecord) => void> = [];
  private readonly rollups = new RollupWriter();

  constructor(
    @InjectRepository(AuditEvent) private readonly events: Repository<AuditEvent>,
    private readonly config: ConfigService,
    private readonly transactions: Transactions,
    private readonly settledHours: SettledHours,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.applyRetention();
    this.retentionTimer = setInterval(() => void this.applyRetention(), DAY);
    this.retentionTimer.unref();
  }

  /**
   * Deletes rows older than audit.retention_days, and the rollups of that time; resolves with how
   * many rows went. In batches of RETENTION_BATCH rows, yielding to the event loop between them:
   * one DELETE of a day of a busy log (or of months, after a retention change) holds synchronous
   * SQLite, and so every request, for seconds. A run still going when the next starts is joined.
   */
  applyRetention(now = Date.now()): Promise<number> {
    this.retention ??= this.deleteExpired(now - this.config.audit.retention_days * DAY).finally(() => (this.retention = null));
    return this.retention;
  }

  private async deleteExpired(cutoff: number): Promise<number> {
    let deleted = 0;
    for (;;) {
      const ids = this.events.createQueryBuilder('e').select('e.id').where('e.at < :cutoff', { cutoff }).limit(RETENTION_BATCH);
      const result = await this.events.createQueryBuilder().delete().where(`id IN (${ids.getQuery()})`, ids.getParameters()).execute();
      const n = result.affected ?? 0;
      deleted += n;
      if (n < RETENTION_BATCH) break;
      if (this.stopping) return deleted;
      await yieldToEventLoop();
    }
    try {
      await deleteRollupsBefore(this.transactions, cutoff, { batch: RETENTION_BATCH, between: () => (this.stopping ? false : yieldToEventLoop().then(() => true)) });
    } finally {
      // The dashboard's kept sums of past hours may count what went.
      this.settledHours.forget();
    }
    return deleted;
  }

  /**
   * Calls listener with every accepted row (e.g. metrics counting sign-in failures): a row of
   * recordIn/recordNow once its transaction has committed, a row of record() when queued.
   * A listener's throw is logged and does not reach the caller.
   */
  onEvent(listener: (event: AuditRecord) => void): void {
    this.listeners.push(listener);
  }

  /** Writes the row inside tx, the transaction of the change it records; a failure rolls the change back. */
  async recordIn(tx: Tx, event: AuditRecord): Promise<void> {
    const row = { ...event, at: Date.now() };
    if (row.tool) row.tool = boundedToolName(row.tool);
    await tx.execute(INSERT_ROW, rowValues(row));
    await this.rollups.countOne(tx, row);
    if (this.listeners.length) tx.afterCommit(() => this.emit(event));
  }

  /** Writes the row before resolving (a failure is logged, not thrown: the request it describes goes on). */
  async recordNow(event: AuditRecord): Promise<void> {
    try {
      await this.transactions.run((tx) => this.recordIn(tx, event));
    } catch (err) {
      this.logger.error(`could not write an audit row (${event.type}): ${(err as Error).message}`);
    }
  }

  /** Queues the row for the next batch: see the class comment for what a crash can lose. */
  record(event: AuditRecord): void {
    const row = { ...event, at: Date.now() };
    if (row.tool) row.tool = boundedToolName(row.tool);
    this.queue.push(row);
    if (this.listeners.length) this.emit(event);
    if (this.queue.length >= FLUSH_AT_ROWS) void this.flush();
    else if (!this.timer) this.timer = setTimeout(() => void this.flush(), FLUSH_EVERY_MS);
  }

  private emit(event: AuditRecord): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (err) {
        this.logger.error(`an audit listener failed on ${event.type}: ${(err as Error).message}`);
      }
    }
  }

  /** Writes every queued row; resolves when they are on disk. */
  flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const batch = this.queue;
    this.queue = [];
    this.flushing = this.flushing.then(async () => {
      if (!batch.length) return;
      try {
        await this.insertBatch(batch);
      } catch (err) {
        this.logger.error(`could not write ${batch.length} audit rows (${[...new Set(batch.map((e) => e.type))].join(', ')}): ${(err as Error).message}`);
      }
    });
    return this.flushing;
  }

  /**
   * One transaction per batch, with hand-written SQL: the proxy records a row per MCP request, and
   * TypeORM's insert builder costs far more CPU per row than the database does. SQLite runs one
   * prepared statement per row; PostgreSQL one multi-row INSERT (a round trip per row would cost more).
   */
  private insertBatch(batch: QueuedEvent[]): Promise<void> {
    return this.transactions.run(async (tx) => {
      if (tx.engine === 'sqlite') for (const e of batch) await tx.execute(INSERT_ROW, rowValues(e));
      else await tx.execute(`${INSERT_ROWS} ${batch.map(() => ROW_PLACEHOLDERS).join(', ')}`, batch.flatMap(rowValues));
      await this.rollups.countBatch(tx, batch);
    });
  }

  async list(filter: { type?: string; limit?: number } = {}): Promise<AuditEvent[]> {
    await this.flush();
    return this.events.find({
      where: filter.type ? { type: filter.type } : {},
      order: { id: 'DESC' },
      take: filter.limit ?? 100,
    });
  }

  async beforeApplicationShutdown(): Promise<void> {
    if (this.retentionTimer) clearInterval(this.retentionTimer);
    // A retention run stops after its current batch (the next run picks up the rest) before the database closes.
    this.stopping = true;
    await this.retention;
    await this.flush();
  }
}

const INSERT_ROWS = 'INSERT INTO audit_events (at, type, outcome, user_id, client_id, upstream_slug, mcp_method, tool, tool_arguments, status, duration_ms, ip, detail) VALUES';
const ROW_PLACEHOLDERS = '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)';
const INSERT_ROW = `${INSERT_ROWS} ${ROW_PLACEHOLDERS}`;

/** The INSERT's values for one row (this runs once per proxied request). */
function rowValues(e: QueuedEvent): unknown[] {
  return [
    e.at,
    e.type,
    e.outcome,
    e.userId ?? null,
    e.clientId ?? null,
    e.upstreamSlug ?? null,
    e.mcpMethod ?? null,
    e.tool ?? null,
    e.toolArguments ? JSON.stringify(e.toolArguments) : null,
    e.status ?? null,
    e.durationMs ?? null,
    e.ip ?? null,
    e.detail ? JSON.stringify(e.detail) : null,
  ];
}
