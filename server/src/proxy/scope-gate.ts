import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { GateRefusal, HEADER_MISMATCH } from './gate-refusal';
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
}

/**
 * For a token holding only some of the upstream's scopes, the scope decision is
 * made on the body the upstream will execute, never on a header: the body is read
 * whole (up to `limit` bytes), parsed, and the 2026-07-28 mirrored headers are
 * checked against it. Throws GateRefusal for a request to refuse; other errors are
 * the client's stream failing.
 */
export async function gateRequestBody(req: IncomingMessage, limit: number): Promise<GatedBody | null> {
  if (req.method !== 'POST') return null;
  let body: Buffer;
  try {
    body = await readBody(req, limit);
  } catch (err) {
    if (err instanceof BodyTooLarge) throw new GateRefusal(413, -32600, err.message);
    throw err;
  }
  const messages = parseJsonRpc(body);
  checkMirroredHeaders(req.headers, messages);
  const list = messages ?? [];
  return { body, methods: list.map((m) => (typeof m.method === 'string' ? m.method : 'response')), rpcId: rpcIdOf(list[0]) };
}

/** The messages of a body (one message or a batch); null when it is not JSON. */
export function parseJsonRpc(body: Buffer): JsonRpcMessage[] | null {
  try {
    const parsed = JSON.parse(body.toString('utf8'));
    return (Array.isArray(parsed) ? parsed : [parsed]).map((m) => (m && typeof m === 'object' ? m : {}));
  } catch {
    return null;
  }
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
export function checkMirroredHeaders(headers: IncomingHttpHeaders, messages: JsonRpcMessage[] | null): void {
  const method = headerValue(headers['mcp-method']);
  const name = headerValue(headers['mcp-name']);
  if (method === undefined && name === undefined) return;
  if (messages && messages.length > 1) throw mismatch('Mcp-Method and Mcp-Name headers cannot describe a batch');
  const message = messages?.[0];
  const rpcId = rpcIdOf(message);
  if (method !== undefined && method !== message?.method) throw mismatch('Mcp-Method header does not match the body', rpcId);
  const source = typeof message?.method === 'string' ? NAME_SOURCE[message.method] : undefined;
  if (name !== undefined && source) {
    const params = message?.params as Record<string, unknown> | undefined;
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
