import { hash } from 'node:crypto';
import { jsonTooDeep } from '../common/json-depth';

/** What the audit log keeps of a tools/call's arguments, per upstream (`audit.tool_arguments`). */
export const TOOL_ARGUMENTS_MODES = ['digest', 'values'] as const;
export type ToolArgumentsMode = (typeof TOOL_ARGUMENTS_MODES)[number];

/**
 * The `tool_arguments` of an audit row. Never the values unless the admin turned them on for the
 * upstream; then at most MAX_VALUES_CHARS of them, with secret-looking members redacted.
 */
export interface ToolArguments {
  /** SHA-256, hex, its first 128 bits: see digestOf. */
  digest: string;
  /**
   * What the digest covers. `arguments`: the canonical JSON (RFC 8785) of params.arguments, so the
   * same arguments give the same digest whatever their key order, spacing or token kind. `body`:
   * the raw request bytes, when the body could not be read as a JSON-RPC tools/call (larger than
   * MAX_CAPTURED_BODY, cut off, compressed, not JSON, nested too deep); such a digest only matches
   * a byte-identical body.
   */
  of: 'arguments' | 'body';
  /** `body` digests only: the body was longer than what was captured, so the digest covers its first MAX_CAPTURED_BODY bytes. */
  truncated?: true;
  /** `values` mode only: the canonical JSON of the arguments, secret-looking members replaced by REDACTED. */
  values?: string;
  /** `values` was cut at MAX_VALUES_CHARS. */
  valuesTruncated?: true;
}

/**
 * The most of a tools/call body kept (by reference, not copied) while it streams to the upstream,
 * to digest it once the exchange is over: enough for any tool call with JSON arguments, and bounded
 * per request (a file upload in the arguments gets a `body` digest of its first 64 KiB).
 */
export const MAX_CAPTURED_BODY = 64 * 1024;
/** The most of the arguments' values an audit row keeps (`values` mode). */
export const MAX_VALUES_CHARS = 4096;
/** Deeper arguments are digested as raw bytes: canonicalJson recurses, and the stack is finite. */
const MAX_DEPTH = 64;
/**
 * Outsiders choose tool names; the audit row and the rollups (keyed by tool) keep at most this
 * many characters of one, so a name cannot grow a row or a rollup key without bound.
 */
export const MAX_TOOL_NAME = 128;

export const REDACTED = '[redacted]';
/**
 * Members whose name looks like it holds a credential are never stored, even in `values` mode: a
 * tool taking an API key or password as an argument is common enough, and the audit log is read
 * by auditors who must not see them. Deliberately broad (it also hides e.g. `max_tokens`): a
 * value hidden by mistake costs a little detail, one stored by mistake leaks a secret. Values are
 * not scanned for secrets under other names; README says so.
 */
const SECRET_NAME = /pass(word|wd|phrase)|secret|token|api[-_]?key|^auth$|authoriz|bearer|credential|private[-_]?key|cookie|session|signature/i;

export function boundedToolName(name: string): string {
  return name.length > MAX_TOOL_NAME ? name.slice(0, MAX_TOOL_NAME) : name;
}

/**
 * SHA-256 cut to 128 bits (32 hex characters): the digest tells identical calls apart and finds
 * them again (2^64 calls before a chance collision), it is not a signature; half the hex keeps
 * every tools/call row shorter.
 */
export function digestOf(bytes: string | Uint8Array): string {
  // crypto.hash (node >= 20.12): one call, about half the cost of a Hash object for small inputs; this runs per tools/call.
  return hash('sha256', bytes, 'hex').slice(0, 32);
}

/**
 * The audit record of a tools/call body, and the tool it names (params.name, for when the first
 * chunk did not tell). `captured` is the start of the body (at most MAX_CAPTURED_BODY bytes);
 * `complete`: it is the whole body. In a batch, the first tools/call is the one described.
 */
export function toolArgumentsOf(captured: Buffer, complete: boolean, mode: ToolArgumentsMode): { record: ToolArguments; tool: string | null } {
  const raw = (truncated: boolean): { record: ToolArguments; tool: null } => ({
    record: truncated ? { digest: digestOf(captured), of: 'body', truncated: true } : { digest: digestOf(captured), of: 'body' },
    tool: null,
  });
  if (!complete) return raw(true);
  if (jsonTooDeep(captured, MAX_DEPTH)) return raw(false);
  let call: { params?: { name?: unknown; arguments?: unknown } } | undefined;
  try {
    const message = JSON.parse(captured.toString('utf8')) as unknown;
    call = (Array.isArray(message) ? message.find((m) => (m as { method?: unknown })?.method === 'tools/call') : message) as typeof call;
  } catch {
    return raw(false);
  }
  if (!call || typeof call !== 'object') return raw(false);
  // MCP: `arguments` is optional; absent is the empty object, as servers read it.
  const args = call.params?.arguments ?? {};
  const record: ToolArguments = { digest: digestOf(canonicalJson(args)), of: 'arguments' };
  if (mode === 'values') {
    const values = canonicalJson(redacted(args));
    if (values.length > MAX_VALUES_CHARS) {
      record.values = values.slice(0, /[\uD800-\uDBFF]/.test(values[MAX_VALUES_CHARS - 1]) ? MAX_VALUES_CHARS - 1 : MAX_VALUES_CHARS);
      record.valuesTruncated = true;
    } else record.values = values;
  }
  const name = call.params?.name;
  return { record, tool: typeof name === 'string' && name ? boundedToolName(name) : null };
}

/**
 * RFC 8785 (JSON Canonicalization Scheme) for values JSON.parse returned: object members sorted by
 * their names' UTF-16 code units (§3.2.3, JavaScript's default sort), no whitespace, strings and
 * numbers as ECMAScript's JSON.stringify writes them (§3.2.2). Hand-written: a dozen lines, and no
 * JCS library is among our dependencies.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const object = value as Record<string, unknown>;
  return `{${Object.keys(object)
    .sort()
    .map((key) => `${JSON.stringify(key)}:${canonicalJson(object[key])}`)
    .join(',')}}`;
}

function redacted(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(redacted);
  return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([key, v]) => [key, SECRET_NAME.test(key) ? REDACTED : redacted(v)]));
}
