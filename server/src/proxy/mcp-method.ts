import type { IncomingMessage } from 'node:http';

const MAX_SNIFF_BYTES = 64 * 1024;

/**
 * Learns the JSON-RPC method of a proxied POST without holding up the stream:
 * it listens to the same chunks the proxy pipes upstream (attached before the
 * pipe, in the same tick, so no chunk is missed) and keeps at most 64 KiB.
 */
export function sniffMcpMethod(req: IncomingMessage, done: (method: string | null, id: unknown) => void): void {
  const header = req.headers['mcp-method'];
  if (typeof header === 'string' && header) return done(header, null);
  if (req.method !== 'POST') return done(null, null);
  const chunks: Buffer[] = [];
  let size = 0;
  req.on('data', (chunk: Buffer) => {
    if (size < MAX_SNIFF_BYTES) chunks.push(chunk);
    size += chunk.length;
  });
  req.on('end', () => {
    if (size > MAX_SNIFF_BYTES) return done(null, null);
    try {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      const first = Array.isArray(body) ? body[0] : body;
      const method = typeof first?.method === 'string' ? first.method : first && 'result' in first ? 'response' : null;
      done(Array.isArray(body) && body.length > 1 ? `batch:${method}` : method, first?.id ?? null);
    } catch {
      done(null, null);
    }
  });
}
