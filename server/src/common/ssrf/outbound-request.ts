import http from 'node:http';
import https from 'node:https';
import { OutboundRequestError, OutboundTimeout, OutboundTooLarge } from './errors';
import { createGuardedAgent } from './guarded-agent';

export interface OutboundRequestOptions {
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  /** Deadline for the whole exchange — connect, headers and body, over all redirects — not an idle timeout. */
  timeoutMs: number;
  /** Largest response body accepted. */
  maxBytes: number;
  /**
   * May this URL reach loopback, private or other non-public addresses? false (the default stance)
   * sends the request through the SSRF guard; a function decides per URL, also for each redirect.
   */
  allowPrivateNetworks: boolean | ((url: URL) => boolean);
  /** Redirects followed for GET (each one checked again); 0 returns the 3xx answer as it is. */
  maxRedirects?: number;
}

export interface OutboundResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** The URL that answered (after redirects). */
  url: string;
}

// No keep-alive: these are rare requests to hosts a remote party chose; nothing is gained by holding sockets open.
const guardedAgents = { 'http:': createGuardedAgent('http:'), 'https:': createGuardedAgent('https:') };
const plainAgents = { 'http:': new http.Agent(), 'https:': new https.Agent() };

/**
 * Every HTTP request the gateway makes on its own account (client metadata documents, upstream
 * authorization server discovery, registration and token requests) goes through here, so the SSRF
 * guard (guarded-agent.ts), the total deadline and the size cap apply to all of them.
 */
export function outboundRequest(url: string | URL, opts: OutboundRequestOptions): Promise<OutboundResponse> {
  let first: URL;
  try {
    first = url instanceof URL ? url : new URL(url);
  } catch {
    return Promise.reject(new OutboundRequestError(`${JSON.stringify(String(url)).slice(0, 200)} is not a URL`));
  }
  return new Promise((resolve, reject) => {
    let current: http.ClientRequest | null = null;
    let settled = false;
    const finish = (err: Error | null, res?: OutboundResponse) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      if (err) {
        current?.destroy();
        reject(err instanceof OutboundRequestError ? err : new OutboundRequestError(err.message));
      } else resolve(res!);
    };
    // One timer for everything: a server trickling a byte at a time cannot stretch the request.
    const deadline = setTimeout(() => finish(new OutboundTimeout(`no complete answer within ${opts.timeoutMs} ms`)), opts.timeoutMs);
    deadline.unref();

    const send = (target: URL, redirectsLeft: number) => {
      if (target.protocol !== 'http:' && target.protocol !== 'https:') return finish(new OutboundRequestError(`${target.protocol} URLs are not fetched`));
      const allowPrivate = typeof opts.allowPrivateNetworks === 'function' ? opts.allowPrivateNetworks(target) : opts.allowPrivateNetworks;
      const agents = allowPrivate ? plainAgents : guardedAgents;
      const client = target.protocol === 'https:' ? https : http;
      const method = opts.method ?? 'GET';
      const headers = { ...opts.headers, ...(opts.body !== undefined ? { 'Content-Length': String(Buffer.byteLength(opts.body)) } : {}) };
      const req = client.request(target, { method, headers, agent: agents[target.protocol] }, (res) => {
        const status = res.statusCode ?? 0;
        const location = res.headers.location;
        if (status >= 300 && status < 400 && location && method === 'GET' && redirectsLeft > 0) {
          res.resume();
          let next: URL;
          try {
            next = new URL(location, target);
          } catch {
            return finish(new OutboundRequestError(`${target.href} redirects to an invalid URL`));
          }
          return send(next, redirectsLeft - 1);
        }
        const declared = Number(res.headers['content-length']);
        if (declared > opts.maxBytes) return finish(new OutboundTooLarge(`the answer of ${target.href} exceeds ${opts.maxBytes} bytes`));
        let size = 0;
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > opts.maxBytes) finish(new OutboundTooLarge(`the answer of ${target.href} exceeds ${opts.maxBytes} bytes`));
          else chunks.push(chunk);
        });
        res.on('end', () => finish(null, { status, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), url: target.toString() }));
        res.on('error', (err) => finish(err));
        res.on('close', () => {
          if (!res.complete) finish(new OutboundRequestError(`${target.href} closed the connection mid-answer`));
        });
      });
      current = req;
      req.on('error', (err) => finish(err));
      req.end(opts.body);
    };
    send(first, opts.method === 'POST' ? 0 : (opts.maxRedirects ?? 0));
  });
}
