import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { decodeContentCoding } from './content-coding';
import { GateRefusal, HEADER_MISMATCH, INVALID_REQUEST, PARSE_ERROR } from './gate-refusal';
import { hasDuplicateKey } from './json-duplicate-keys';
import { BodyTooLarge, readBody } from './request-body';

/** One JSON-RPC message, as far as the gateway looks into it. */
export interface JsonRpcMessage {
  jsonrpc?: unknown;
  id?: unknown;
  method?: unknown;
  params?: unknown;
  result?: unknown;
  error?: unknown;
}

/** What the gateway read of a request body for a restricted token, and what it forwards. */
export interface GatedBody {
  /** The bytes to forward: exactly the ones the scope decision was made on. */
  body: Buffer;
  /** Each message's method, `response` for a response: the input to requiredScope(). */
  methods: string[];
  /** The id of the first message, for the JSON-RPC error of a later refusal. */
  rpcId: string | number | null;
  /** The parsed messages (the tool policy reads tools/call names and tools/list ids from them). */
  messages: JsonRpcMessage[];
}

/**
 * For a token holding only some of the upstream's scopes, the scope decision is
 * made on the body the upstream will execute, never on a header, and it fails
 * closed: the body is read whole (up to `limit` bytes), its Content-Encoding undone
 * (decoded size capped at `limit` too) and a UTF-8 BOM dropped; it must then be a
 * JSON-RPC message or batch, whose 2026-07-28 mirrored headers match it. Those
 * decoded bytes, and no others, are what the upstream receives (`body`), so the
 * upstream cannot read into the request anything the gateway did not.
 *
 * Throws GateRefusal for a request to refuse; any other error is the client's stream
 * failing. A request other than POST has no body to decide from and must carry none.
 */
export async function gateRequestBody(req: IncomingMessage, limit: number): Promise<GatedBody | null> {
  if (req.method !== 'POST') {
    if (declaresBody(req.headers)) throw new GateRefusal(400, INVALID_REQUEST, `a ${req.method} request to an MCP endpoint carries no body`);
    return null;
  }
  let raw: Buffer;
  try {
    raw = await readBody(req, limit);
  } catch (err) {
    if (err instanceof BodyTooLarge) throw new GateRefusal(413, INVALID_REQUEST, err.message);
    throw err;
  }
  const body = stripUtf8Bom(await decodeContentCoding(raw, req.headers['content-encoding'], limit));
  const messages = parseJsonRpc(body);
  checkMirroredHeaders(req.headers, messages);
  return { body, methods: messages.map((m) => (typeof m.method === 'string' ? m.method : 'response')), rpcId: rpcIdOf(messages[0]), messages };
}

/** RFC 9112 §6.3: a request has a body exactly when it has Transfer-Encoding or a Content-Length. */
function declaresBody(headers: IncomingHttpHeaders): boolean {
  return headers['transfer-encoding'] !== undefined || (headers['content-length'] !== undefined && headers['content-length'] !== '0');
}

/** RFC 8259 §8.1: a JSON text must not start with a BOM, but a parser may ignore one; the gateway drops it. */
export function stripUtf8Bom(body: Buffer): Buffer {
  return body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf ? body.subarray(3) : body;
}

/** `fatal`: a body that is not UTF-8 (RFC 8259 §8.1) is refused, never read with replacement characters. */
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * The messages of a body: one JSON-RPC 2.0 message or a non-empty batch of them
 * (JSON-RPC 2.0 §4, §5, §6). Anything else is refused with -32700 (not JSON) or
 * -32600 (not JSON-RPC), as is a text that repeats a member name (see hasDuplicateKey).
 */
export function parseJsonRpc(body: Buffer): JsonRpcMessage[] {
  let text: string;
  let parsed: unknown;
  try {
    text = UTF8.decode(body);
    parsed = JSON.parse(text);
  } catch {
    throw new GateRefusal(400, PARSE_ERROR, 'request body is not UTF-8 JSON');
  }
  const messages: unknown[] = Array.isArray(parsed) ? parsed : [parsed];
  if (!messages.length) throw new GateRefusal(400, INVALID_REQUEST, 'request body is an empty batch');
  if (!messages.every(isJsonRpcMessage)) throw new GateRefusal(400, INVALID_REQUEST, 'request body is not a JSON-RPC 2.0 message or batch of them');
  if (hasDuplicateKey(text)) throw new GateRefusal(400, INVALID_REQUEST, 'request body repeats a member name');
  return messages;
}

/** A request or notification (string `method`), or a response (an `id` and exactly one of result/error). */
function isJsonRpcMessage(value: unknown): value is JsonRpcMessage {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return false;
  const m = value as JsonRpcMessage;
  if (m.jsonrpc !== '2.0') return false;
  if ('id' in m && !(typeof m.id === 'string' || typeof m.id === 'number' || m.id === null)) return false;
  if ('method' in m) return typeof m.method === 'string' && (m.params === undefined || (typeof m.params === 'object' && m.params !== null));
  return 'id' in m && 'result' in m !== 'error' in m;
}

/** The methods whose Mcp-Name header mirrors a field of params (2026-07-28 Streamable HTTP, "Standard Request Headers"). */
const NAME_SOURCE: Record<string, 'name' | 'uri'> = { 'tools/call': 'name', 'prompts/get': 'name', 'resources/read': 'uri' };

/**
 * 2026-07-28 Streamable HTTP, "Server Validation": Mcp-Method mirrors the body's
 * `method` and Mcp-Name its `params.name` / `params.uri`; a server that reads the
 * body MUST reject a mismatch with 400 and HeaderMismatch (-32020), precisely so
 * that no component acts on a header the body contradicts. That transport carries
 * one message per POST, so a header next to a batch (which only older protocol
 * versions allow, and which no header could mirror) is a malformed request too.
 * A missing header is not refused here: clients of older protocol versions never
 * send one, and the gateway decides from the body alone.
 */
export function checkMirroredHeaders(headers: IncomingHttpHeaders, messages: JsonRpcMessage[]): void {
  const method = headerValue(headers['mcp-method']);
  const name = headerValue(headers['mcp-name']);
  if (method === undefined && name === undefined) return;
  if (messages.length > 1) throw mismatch('Mcp-Method and Mcp-Name headers cannot describe a batch');
  const message = messages[0];
  const rpcId = rpcIdOf(message);
  if (method !== undefined && method !== message.method) throw mismatch('Mcp-Method header does not match the body', rpcId);
  const source = typeof message.method === 'string' ? NAME_SOURCE[message.method] : undefined;
  if (name !== undefined && source) {
    const params = message.params as Record<string, unknown> | undefined;
    const mirrored = params && typeof params === 'object' ? params[source] : undefined;
    if (decodeSentinel(name) !== mirrored) throw mismatch('Mcp-Name header does not match the body', rpcId);
  }
}

function mismatch(message: string, rpcId: string | number | null = null): GateRefusal {
  return new GateRefusal(400, HEADER_MISMATCH, `Header mismatch: ${message}`, rpcId);
}

/** Node joins repeated custom headers with ", "; a repeated Mcp-Method then matches no method. */
function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

const BASE64_SENTINEL = /^=\?base64\?([A-Za-z0-9+/]*={0,2})\?=$/;

/** 2026-07-28 Streamable HTTP, "Value Encoding": `=?base64?…?=` carries a UTF-8 value that is not plain ASCII. */
export function decodeSentinel(value: string): string {
  const encoded = BASE64_SENTINEL.exec(value)?.[1];
  return encoded === undefined ? value : Buffer.from(encoded, 'base64').toString('utf8');
}

function rpcIdOf(message: JsonRpcMessage | undefined): string | number | null {
  const id = message?.id;
  return typeof id === 'string' || typeof id === 'number' ? id : null;
}
