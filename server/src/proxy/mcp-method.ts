import type { IncomingMessage } from 'node:http';

const SNIFF_BYTES = 4096;
const METHOD = /"method"\s*:\s*"([^"\\]{1,128})"/;
const ID = /"id"\s*:\s*("(?:[^"\\]{0,128})"|-?\d{1,16})/;
/** params.name as the SDKs write a tools/call (`"params":{"name":"…"`): the cheap path, no parse. */
const TOOL_FIRST = /"params"\s*:\s*\{\s*"name"\s*:\s*"([^"\\]{1,128})"/;
const MAX_TOOL_NAME = 128;

/**
 * Learns the JSON-RPC method of a proxied POST for the audit log without holding up
 * the stream: it looks at the first chunk the proxy pipes upstream (the listener is
 * attached before the pipe, in the same tick, so the chunk is not missed). The
 * 2026-07-28 transport names the method in the Mcp-Method header too, but the body is
 * what the upstream executes, so the header is only the fallback when the first chunk
 * names no method (e.g. a compressed body) and for requests without one.
 * For tools/call it learns the tool's name too (see toolNameIn).
 */
export function sniffMcpMethod(req: IncomingMessage, done: (method: string | null, id: unknown, tool: string | null) => void): void {
  const raw = req.headers['mcp-method'];
  const header = typeof raw === 'string' && raw ? raw : null;
  done(header, null, null);
  if (req.method !== 'POST') return;
  req.once('data', (chunk: Buffer) => {
    const head = chunk.toString('utf8', 0, SNIFF_BYTES);
    const method = METHOD.exec(head)?.[1] ?? (head.includes('"result"') || head.includes('"error"') ? 'response' : header);
    const id = ID.exec(head)?.[1];
    done(method, id === undefined ? null : JSON.parse(id), method === 'tools/call' ? toolNameIn(head, chunk.length <= SNIFF_BYTES) : null);
  });
}

/**
 * The tool a tools/call names (params.name), for the access line and the audit row; null when the
 * first bytes do not tell. `whole`: `head` is the complete first chunk, worth parsing when the name
 * is not where SDKs put it. Bounded: at most SNIFF_BYTES are looked at, and the name is kept only
 * up to 128 characters.
 */
export function toolNameIn(head: string, whole: boolean): string | null {
  const first = TOOL_FIRST.exec(head)?.[1];
  if (first) return first;
  if (!whole) return null;
  try {
    const message = JSON.parse(head) as { params?: { name?: unknown } } | Array<{ params?: { name?: unknown } }>;
    const name = (Array.isArray(message) ? message[0] : message)?.params?.name;
    return typeof name === 'string' && name ? name.slice(0, MAX_TOOL_NAME) : null;
  } catch {
    return null; // a body in several chunks, or not JSON: the upstream answers that
  }
}

/** toolNameIn for a body the gateway read whole (the scope check). */
export function toolNameOfBody(body: Buffer): string | null {
  return toolNameIn(body.toString('utf8', 0, SNIFF_BYTES), body.length <= SNIFF_BYTES);
}
