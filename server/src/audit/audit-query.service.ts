import { Injectable, Logger } from '@nestjs/common';
import type { Writable } from 'node:stream';
import { Transactions } from '../database/transactions';
import { csvRecord, CSV_HEADER, ExportFormat, jsonLine } from './audit-export';
import { PROXIED_REQUEST_TYPE } from './audit-event.entity';
import { AuditCursor, AuditEntry, AuditFilter, entryView, UserEmails, whereOf } from './audit-query';
import { AuditService } from './audit.service';
import type { ToolArguments } from './tool-arguments';

// Aliases quoted: PostgreSQL folds unquoted names to lower case.
const SELECT = `SELECT id, at, type, outcome, user_id AS "userId", client_id AS "clientId", upstream_slug AS "upstreamSlug",
  mcp_method AS "mcpMethod", tool, tool_arguments AS "toolArguments", status, duration_ms AS "durationMs", ip, detail FROM audit_events`;

const EVENT_TYPES_SQL = `
  WITH RECURSIVE types(type) AS (
    SELECT MIN(type) FROM audit_events WHERE type != '${PROXIED_REQUEST_TYPE}'
    UNION ALL
    SELECT (SELECT MIN(type) FROM audit_events WHERE type > types.type AND type != '${PROXIED_REQUEST_TYPE}') FROM types WHERE types.type IS NOT NULL
  )
  SELECT type FROM types WHERE type IS NOT NULL
  UNION SELECT '${PROXIED_REQUEST_TYPE}' WHERE EXISTS (SELECT 1 FROM audit_events WHERE type = '${PROXIED_REQUEST_TYPE}')
  ORDER BY type`;

/** How much of a subject's history the doctor reads (see AuditQueryService.history). */
export interface HistoryBounds {
  head: number;
  tail: number;
  scan: number;
  requests: number;
}

export const DEFAULT_HISTORY: HistoryBounds = { head: 100, tail: 300, scan: 20_000, requests: 50 };

/** Rows per query of an export: each is one index range scan of about a millisecond. */
export const EXPORT_PAGE_ROWS = 500;
/** An export is written in pieces of about this many characters (see exportTo). */
const EXPORT_WRITE_BYTES = 32 * 1024;
/** At most about this much of an export waits in the response's buffer: a page ends when it is full. */
const EXPORT_BUFFER_BYTES = 64 * 1024;

type RawEntry = Omit<AuditEntry, 'detail' | 'toolArguments'> & { detail: string | null; toolArguments: string | null };

/**
 * Reads the audit log for the admin console: pages newest first by (at, id) with a keyset cursor
 * (stable while rows are added: a page starts strictly after the last row shown), one row, the
 * event types, and exports of a filtered set. Every read is one range scan of an index on
 * (filter column, at) (see audit-event.entity.ts); none counts or sorts the log.
 */
@Injectable()
export class AuditQueryService {
  private readonly logger = new Logger('AuditQuery');

  constructor(
    private readonly transactions: Transactions,
    private readonly audit: AuditService,
  ) {}

  /** Up to `limit` rows after `after`, newest first, and the cursor of the next page (null on the last). */
  async page(filter: AuditFilter, after: AuditCursor | null, limit: number): Promise<{ entries: AuditEntry[]; next: AuditCursor | null }> {
    // What was recorded before this request (proxied requests wait ≤ 50 ms in the queue) is shown.
    await this.audit.flush();
    const rows = await this.select(filter, after, limit + 1);
    const entries = rows.slice(0, limit);
    const last = entries[entries.length - 1];
    return { entries, next: rows.length > limit ? { at: last.at, id: last.id } : null };
  }

  async get(id: number): Promise<AuditEntry | null> {
    await this.audit.flush();
    const [row] = await this.transactions.query<RawEntry>(`${SELECT} WHERE id = ?`, [id]);
    return row ? parsed(row) : null;
  }

  /**
   * One client's or one user's history for the connection doctor, oldest first: its first `head`
   * rows (registration, first authorization), its newest `tail` rows other than proxied requests
   * among its newest `scan` rows, its newest `requests` proxied requests and its first one. Each is
   * one range scan of the (client_id|user_id, at) index, bounded, so a client with millions of
   * requests costs as much as one with a few. `omitted` says whether the subject has rows not returned.
   */
  async history(subject: { clientId: string } | { userId: string }, bounds: HistoryBounds = DEFAULT_HISTORY): Promise<{ entries: AuditEntry[]; omitted: boolean }> {
    await this.audit.flush();
    const [column, value] = 'clientId' in subject ? ['client_id', subject.clientId] : ['user_id', subject.userId];
    const run = async (sql: string, ...params: (string | number)[]) => (await this.transactions.query<RawEntry>(sql, [value, ...params])).map(parsed);
    // A derived table is named (AS recent, AS subject): PostgreSQL requires it.
    const head = await run(`${SELECT} WHERE ${column} = ? ORDER BY at ASC, id ASC LIMIT ?`, bounds.head);
    const tail = await run(
      `SELECT * FROM (${SELECT} WHERE ${column} = ? ORDER BY at DESC, id DESC LIMIT ?) AS recent WHERE type != '${PROXIED_REQUEST_TYPE}' LIMIT ?`,
      bounds.scan,
      bounds.tail,
    );
    const requests = await run(`${SELECT} WHERE ${column} = ? AND type = '${PROXIED_REQUEST_TYPE}' ORDER BY at DESC, id DESC LIMIT ?`, bounds.requests);
    const first = await run(`${SELECT} WHERE ${column} = ? AND type = '${PROXIED_REQUEST_TYPE}' ORDER BY at ASC, id ASC LIMIT 1`);
    const byId = new Map<number, AuditEntry>();
    for (const entry of [...head, ...tail, ...requests, ...first]) byId.set(entry.id, entry);
    const entries = [...byId.values()].sort((a, b) => a.at - b.at || a.id - b.id);
    return { entries, omitted: (await this.countUpTo(column, value, entries.length + 1)) > entries.length };
  }

  /** min(rows of the subject, limit): a bounded count (stops at `limit`). */
  private async countUpTo(column: string, value: string, limit: number): Promise<number> {
    const [row] = await this.transactions.query<{ n: number }>(`SELECT COUNT(*) AS n FROM (SELECT 1 FROM audit_events WHERE ${column} = ? LIMIT ?) AS subject`, [value, limit]);
    return Number(row.n);
  }

  /**
   * The event types in the log, sorted: a loose index scan (one seek per distinct type) of the
   * type index, which leaves out the proxy's request rows; those are named when there is one (the
   * first row of the log usually is, so that scan stops at once).
   */
  async eventTypes(): Promise<string[]> {
    await this.audit.flush();
    const rows = await this.transactions.query<{ type: string }>(EVENT_TYPES_SQL);
    return rows.map((r) => r.type);
  }

  /**
   * Writes every row the filter matches, newest first, to `out` as CSV (with a header record) or
   * JSON Lines, then ends it; resolves with the number of rows. Memory stays flat whatever the
   * size: rows are read in keyset pages of at most EXPORT_PAGE_ROWS, one row at a time (each is
   * formatted and dropped at once), written out in pieces of about EXPORT_WRITE_BYTES; a page ends
   * early once EXPORT_BUFFER_BYTES wait in the response's buffer, and the next one is read after
   * 'drain' (backpressure), so what is in flight stays small and short-lived: kept waiting, V8
   * would move it to its old generation, which then grows until its next full collection.
   * Nothing awaits while a page's statement is open: better-sqlite3 keeps the connection busy
   * while an iterator is, and the gateway's single connection must keep serving other requests
   * (and the audit batches) between two pages. A row of a user whose email is not known yet ends
   * its page too; the next one starts there once the email is looked up. Stops early when the
   * client goes away.
   */
  async exportTo(out: Writable, filter: AuditFilter, format: ExportFormat, emailsOf?: UserEmails): Promise<number> {
    let written = 0;
    try {
      await this.audit.flush();
      // Rows recorded during the export (newer than its start) are not part of it.
      const bounded: AuditFilter = { ...filter, to: Math.min(filter.to ?? Infinity, Date.now()) };
      const record = format === 'csv' ? csvRecord : jsonLine;
      const emails = new Map<string, string | null>();
      let after: AuditCursor | null = null;
      let drained = format === 'csv' ? out.write(CSV_HEADER) : true;
      for (;;) {
        if (!drained && !(await drain(out))) return written;
        drained = true;
        if (out.destroyed || out.writableEnded) return written;
        const where = whereOf(bounded, after);
        const rows = await this.transactions.iterate<RawEntry>(`${SELECT} ${where.sql} ORDER BY at DESC, id DESC LIMIT ?`, [...where.params, EXPORT_PAGE_ROWS]);
        let read = 0;
        let unknownUser: string | null = null;
        let piece = '';
        for (const row of rows) {
          if (emailsOf && row.userId !== null && !emails.has(row.userId)) {
            unknownUser = row.userId;
            break; // closes the statement
          }
          piece += record(entryView(parsed(row), emails));
          after = { at: row.at, id: row.id };
          read++;
          if (piece.length >= EXPORT_WRITE_BYTES) {
            drained = out.write(piece) && drained;
            piece = '';
            // The client has enough to read: the page ends here, the next starts after 'drain'.
            if (out.writableLength >= EXPORT_BUFFER_BYTES) break;
          }
        }
        if (piece) drained = out.write(piece) && drained;
        written += read;
        if (unknownUser !== null && emailsOf) {
          // Bounded by the users table; cleared, not grown, past that (an export then asks again).
          if (emails.size >= 10_000) emails.clear();
          emails.set(unknownUser, (await emailsOf([unknownUser])).get(unknownUser) ?? null);
          continue;
        }
        if (read < EXPORT_PAGE_ROWS && out.writableLength < EXPORT_BUFFER_BYTES) break;
      }
      if (!drained && !(await drain(out))) return written;
      out.end();
    } catch (err) {
      // The response has started (the status line is out): all that is left is to cut it short.
      this.logger.error(`audit export failed after ${written} rows: ${(err as Error).message}`);
      out.destroy();
    }
    return written;
  }

  private async select(filter: AuditFilter, after: AuditCursor | null, limit: number): Promise<AuditEntry[]> {
    const where = whereOf(filter, after);
    const rows = await this.transactions.query<RawEntry>(`${SELECT} ${where.sql} ORDER BY at DESC, id DESC LIMIT ?`, [...where.params, limit]);
    return rows.map(parsed);
  }
}

function parsed(row: RawEntry): AuditEntry {
  let detail: Record<string, unknown> | null = null;
  if (row.detail !== null) {
    try {
      detail = JSON.parse(row.detail) as Record<string, unknown>;
    } catch {
      detail = { unparsed: row.detail };
    }
  }
  let toolArguments: ToolArguments | null = null;
  if (row.toolArguments !== null) {
    try {
      toolArguments = JSON.parse(row.toolArguments) as ToolArguments;
    } catch {
      toolArguments = null; // only the gateway writes this column: not reached
    }
  }
  return { ...row, detail, toolArguments };
}

/** Waits until the stream's buffer has room again; false when the reader has gone instead. */
async function drain(out: Writable): Promise<boolean> {
  if (out.destroyed) return false;
  await new Promise<void>((resolve) => {
    const done = () => {
      out.off('drain', done);
      out.off('close', done);
      out.off('error', done);
      resolve();
    };
    out.on('drain', done);
    out.on('close', done);
    out.on('error', done);
  });
  return !out.destroyed;
}
