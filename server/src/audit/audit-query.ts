import type { ToolArguments } from './tool-arguments';
import { PROXIED_REQUEST_TYPE } from './audit-event.entity';

/** What the audit log can be filtered by; every field optional, all given ones must match. */
export interface AuditFilter {
  /** Inclusive bounds of `at`, epoch ms. */
  from?: number;
  to?: number;
  userId?: string;
  clientId?: string;
  upstream?: string;
  type?: string;
  outcome?: 'success' | 'failure';
  mcpMethod?: string;
  tool?: string;
}

/** Where a page ends: the sort key (at, id) of its last row. The next page starts strictly after it. */
export interface AuditCursor {
  at: number;
  id: number;
}

/** One audit row as read back (detail parsed). */
export interface AuditEntry {
  id: number;
  at: number;
  type: string;
  outcome: 'success' | 'failure';
  userId: string | null;
  clientId: string | null;
  upstreamSlug: string | null;
  mcpMethod: string | null;
  tool: string | null;
  /** tools/call rows: the arguments' digest (and values, where the upstream keeps them). */
  toolArguments: ToolArguments | null;
  status: number | null;
  durationMs: number | null;
  ip: string | null;
  detail: Record<string, unknown> | null;
}

/** The API's (and the JSON Lines export's) shape of a row: the user named by id and email. */
export interface AuditEntryView extends Omit<AuditEntry, 'userId'> {
  user: { id: string; email: string | null } | null;
}

/** Emails of users by id (ids of deleted users are left out); the audit log stores ids only. */
export type UserEmails = (userIds: string[]) => Promise<Map<string, string>>;

export function entryView(entry: AuditEntry, emails: ReadonlyMap<string, string | null>): AuditEntryView {
  const { userId, ...rest } = entry;
  // Key order as in the API contract.
  return {
    id: rest.id,
    at: rest.at,
    type: rest.type,
    outcome: rest.outcome,
    user: userId === null ? null : { id: userId, email: emails.get(userId) ?? null },
    clientId: rest.clientId,
    upstreamSlug: rest.upstreamSlug,
    mcpMethod: rest.mcpMethod,
    tool: rest.tool,
    toolArguments: rest.toolArguments,
    status: rest.status,
    durationMs: rest.durationMs,
    ip: rest.ip,
    detail: rest.detail,
  };
}

/** The filters whose column is compared for equality, and their columns. */
export const EQUALITY_FILTERS = {
  userId: 'user_id',
  clientId: 'client_id',
  upstream: 'upstream_slug',
  type: 'type',
  mcpMethod: 'mcp_method',
  tool: 'tool',
} as const satisfies Record<Exclude<keyof AuditFilter, 'from' | 'to' | 'outcome'>, string>;

/**
 * The WHERE clause and parameters of a filter plus a cursor. Values are always bound parameters;
 * the SQL text depends only on which filters are present, so there are few distinct statements.
 * The cursor is written as `at <= ? AND (at < ? OR id < ?)`: the first term bounds the index range
 * scan, the second drops the rows of the same millisecond already shown.
 *
 * Two filters add a constant condition so SQLite may use a partial index (see audit-event.entity.ts),
 * which it can only do when the query's text implies the index's WHERE: a type other than the
 * proxy's request rows says so (`type != 'mcp.request'`), and the outcome, one of two constants, is
 * written as its literal.
 */
export function whereOf(filter: AuditFilter, after: AuditCursor | null): { sql: string; params: (string | number)[] } {
  const terms: string[] = [];
  const params: (string | number)[] = [];
  for (const [key, column] of Object.entries(EQUALITY_FILTERS) as [keyof typeof EQUALITY_FILTERS, string][]) {
    const value = filter[key];
    if (value === undefined) continue;
    terms.push(`${column} = ?`);
    params.push(value);
    if (key === 'type' && value !== PROXIED_REQUEST_TYPE) terms.push(`type != '${PROXIED_REQUEST_TYPE}'`);
  }
  if (filter.outcome !== undefined) terms.push(filter.outcome === 'failure' ? "outcome = 'failure'" : "outcome = 'success'");
  if (filter.from !== undefined) {
    terms.push('at >= ?');
    params.push(filter.from);
  }
  if (filter.to !== undefined) {
    terms.push('at <= ?');
    params.push(filter.to);
  }
  if (after) {
    terms.push('at <= ? AND (at < ? OR id < ?)');
    params.push(after.at, after.at, after.id);
  }
  return { sql: terms.length ? `WHERE ${terms.join(' AND ')}` : '', params };
}
