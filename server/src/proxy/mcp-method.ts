import type { IncomingMessage } from 'node:http';

const SNIFF_BYTES = 4096;
const METHOD = /"method"\s*:\s*"([^"\\]{1,128})"/;
const ID = /"id"\s*:\s*("(?:[^"\\]{0,128})"|-?\d{1,16})/;

/**
 * Learns the JSON-RPC method of a proxied POST for the audit log without holding up
 * the stream: it looks at the first chunk the proxy pipes upstream (the listener is
 * attached before the pipe, in the same tick, so the chunk is not missed). The
 * 2026-07-28 transport names the method in the Mcp-Method header too, but the body is
 * what the upstream executes, so the header is only the fallback when the first chunk
 * names no method (e.g. a compressed body) and for requests without one.
 */
export function sniffMcpMethod(req: IncomingMessage, done: (method: string | null, id: unknown) => void): void {
  const raw = req.headers['mcp-method'];
  const header = typeof raw === 'string' && raw ? raw : null;
  done(header, null);
  if (req.method !== 'POST') return;
  req.once('data', (chunk: Buffer) => {
    const head = chunk.toString('utf8', 0, SNIFF_BYTES);
    const method = METHOD.exec(head)?.[1] ?? (head.includes('"result"') || head.includes('"error"') ? 'response' : header);
    const id = ID.exec(head)?.[1];
    done(method, id === undefined ? null : JSON.parse(id));
  });
}
