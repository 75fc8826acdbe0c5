import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';
import type { AuditEventType } from './audit-event-type';
import type { ToolArguments } from './tool-arguments';

/** The type of the proxy's row for a request it forwarded: most of the log. */
export const PROXIED_REQUEST_TYPE = 'mcp.request' satisfies AuditEventType;

/**
 * One audited event. Never holds a secret: ids, names, methods and outcomes only.
 *
 * The audit log is read newest first, by (at, id) descending, with at most one filter that an
 * index serves (plus any others checked on the rows it yields). Each filterable column has an
 * index on (column, at): SQLite appends the rowid (here `id`) to every index entry, so such an
 * index is ordered by (column, at, id) and "column = ? AND at in a range, newest first, after
 * this cursor" is one range scan of it, with no sort. `at` alone serves the unfiltered log and a
 * time range.
 *
 * Every index costs each proxied request's row an insert (about 0.7 µs), so they hold only the
 * rows a filter can need them for: the nullable columns index rows that have a value (a filter
 * never asks for NULL, and SQLite uses a `WHERE col IS NOT NULL` index for `col = ?`); failures
 * have an index of their own, successes (nearly every row) are found by walking `at`; and the
 * type index leaves out the proxy's 'mcp.request' rows (the bulk of the log, found by walking `at`
 * too). audit-query.ts writes the conditions that let SQLite use these partial indexes.
 */
@Entity('audit_events')
@Index(['type', 'at'], { where: `"type" != '${PROXIED_REQUEST_TYPE}'` })
@Index(['at'], { where: `"outcome" = 'failure'` })
@Index(['userId', 'at'], { where: '"user_id" IS NOT NULL' })
@Index(['clientId', 'at'], { where: '"client_id" IS NOT NULL' })
@Index(['upstreamSlug', 'at'], { where: '"upstream_slug" IS NOT NULL' })
@Index(['mcpMethod', 'at'], { where: '"mcp_method" IS NOT NULL' })
@Index(['tool', 'at'], { where: '"tool" IS NOT NULL' })
export class AuditEvent {
  @PrimaryGeneratedColumn()
  id: number;

  @Index()
  @Column('integer')
  at: number;

  @Column('text')
  type: string;

  @Column('text')
  outcome: 'success' | 'failure';

  @Column('text', { name: 'user_id', nullable: true })
  userId: string | null;

  @Column('text', { name: 'client_id', nullable: true })
  clientId: string | null;

  @Column('text', { name: 'upstream_slug', nullable: true })
  upstreamSlug: string | null;

  @Column('text', { name: 'mcp_method', nullable: true })
  mcpMethod: string | null;

  /** The tool a `tools/call` named (params.name); null for every other row. */
  @Column('text', { nullable: true })
  tool: string | null;

  /**
   * What a `tools/call` passed as params.arguments: a digest always, the values only where the
   * upstream's `audit.tool_arguments` is `values` (see tool-arguments.ts); null for every other row.
   */
  @Column('simple-json', { name: 'tool_arguments', nullable: true })
  toolArguments: ToolArguments | null;

  @Column('integer', { nullable: true })
  status: number | null;

  @Column('integer', { name: 'duration_ms', nullable: true })
  durationMs: number | null;

  @Column('text', { nullable: true })
  ip: string | null;

  @Column('simple-json', { nullable: true })
  detail: Record<string, unknown> | null;
}
