import type { IncomingMessage } from 'node:http';

export class BodyTooLarge extends Error {}

/** Reads a request body up to `limit` bytes. */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.resume();
        reject(new BodyTooLarge(`request body exceeds ${limit} bytes`));
      } else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/**
 * After the gateway has read (and decoded) a body itself, the proxy must send those bytes on:
 * http-proxy pipes `req` into the upstream request, so `pipe` is replaced on this
 * request to write the buffered body instead (the upstream request buffers it until
 * its socket is ready).
 */
export function replayBody(req: IncomingMessage, body: Buffer): void {
  req.headers['content-length'] = String(body.length);
  delete req.headers['transfer-encoding'];
  delete req.headers['content-encoding']; // the bytes are the decoded ones
  req.pipe = <T extends NodeJS.WritableStream>(dest: T): T => {
    dest.end(body);
    return dest;
  };
}
