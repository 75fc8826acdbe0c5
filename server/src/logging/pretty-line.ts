/**
 * The `pretty` format: pino's JSON record as one line a person reads,
 *   2026-01-05T10:00:00.000Z INFO  [access] mcp request upstream=notes status=200 duration_ms=12
 * Hand-written because pino-pretty (pino's own) is a separate, much larger package with worker-thread
 * transports; this needs none of that. Values that are not plain words are JSON-quoted, so a value
 * chosen by a client (a tool name, a header) can never start a new line or fake a key=value pair.
 */
const FIXED_KEYS = new Set(['time', 'level', 'context', 'msg', 'stack']);
const PLAIN = /^[A-Za-z0-9_.:/@+-]+$/;

export function prettyLine(json: string): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.endsWith('\n') ? json : `${json}\n`;
  }
  let line = `${text(record.time)} ${text(record.level).toUpperCase().padEnd(5)}`;
  if (record.context) line += ` [${text(record.context)}]`;
  if (record.msg !== undefined && record.msg !== '') line += ` ${text(record.msg).replace(/\r?\n|\r/g, ' ')}`;
  for (const key in record) {
    const value = record[key];
    if (FIXED_KEYS.has(key) || value === undefined || value === null) continue;
    line += ` ${key}=${typeof value === 'string' && PLAIN.test(value) ? value : typeof value === 'number' || typeof value === 'boolean' ? String(value) : JSON.stringify(value)}`;
  }
  // A stack trace is the one multi-line value: indented below its line, as people expect to read it.
  if (typeof record.stack === 'string') line += `\n${record.stack.replace(/^/gm, '    ')}`;
  return `${line}\n`;
}

function text(value: unknown): string {
  if (value === undefined || value === null) return '';
  return typeof value === 'string' ? value : JSON.stringify(value);
}
