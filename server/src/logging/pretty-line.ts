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
  return prettyParts(record.time, record.level, record.context, record.msg, record, record.stack);
}

/**
 * The same line from its parts, for a logger that never wrote the record as JSON
 * (AppLogger.lineLogger). Keys of `fields` that are fixed parts (time, level, context, msg, stack)
 * are skipped, as are undefined and null values.
 */
export function prettyParts(time: unknown, level: unknown, context: unknown, msg: unknown, fields: Record<string, unknown>, stack?: unknown): string {
  let line = `${text(time)} ${text(level).toUpperCase().padEnd(5)}`;
  if (context) line += ` [${text(context)}]`;
  if (msg !== undefined && msg !== '') line += ` ${text(msg).replace(/\r?\n|\r/g, ' ')}`;
  for (const key in fields) {
    const value = fields[key];
    if (FIXED_KEYS.has(key) || value === undefined || value === null) continue;
    line += ` ${key}=${typeof value === 'string' && PLAIN.test(value) ? value : typeof value === 'number' || typeof value === 'boolean' ? String(value) : JSON.stringify(value)}`;
  }
  // A stack trace is the one multi-line value: indented below its line, as people expect to read it.
  if (typeof stack === 'string') line += `\n${stack.replace(/^/gm, '    ')}`;
  return `${line}\n`;
}

function text(value: unknown): string {
  if (value === undefined || value === null) return '';
  return typeof value === 'string' ? value : JSON.stringify(value);
}
