import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { isPrivateAddress } from './private-address';

export class GuardedFetchError extends Error {}

export interface GuardedFetchOptions {
  allowPrivateNetworks: boolean;
  timeoutMs: number;
  maxBytes: number;
}

export interface GuardedResponse {
  body: string;
  cacheControl: string | undefined;
}

/**
 * GET a small JSON document from a URL a remote party chose, with SSRF guards:
 * the address is checked at connect time (so DNS rebinding cannot slip past a
 * separate check), no redirects are followed, and size and time are capped.
 */
export function guardedFetch(url: URL, opts: GuardedFetchOptions): Promise<GuardedResponse> {
  const lookup: LookupFunction = (hostname, options, callback) => {
    dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '', 0);
      const list = addresses as dns.LookupAddress[];
      const bad = list.find((a) => isPrivateAddress(a.address));
      if (bad && !opts.allowPrivateNetworks) {
        return callback(new GuardedFetchError(`${hostname} resolves to a private address`), '', 0);
      }
      if ((options as { all?: boolean }).all) return (callback as any)(null, list);
      callback(null, list[0].address, list[0].family);
    });
  };
  const client = url.protocol === 'https:' ? https : http;
  // An IP literal never goes through `lookup`, so it is checked here.
  const literal = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(literal) && isPrivateAddress(literal) && !opts.allowPrivateNetworks) {
    return Promise.reject(new GuardedFetchError(`${literal} is a private address`));
  }
  return new Promise((resolve, reject) => {
    const req = client.get(url, { lookup, timeout: opts.timeoutMs, headers: { Accept: 'application/json' } }, (res) => {
      if ((res.statusCode ?? 0) >= 300 && (res.statusCode ?? 0) < 400) {
        res.resume();
        return reject(new GuardedFetchError(`the document redirects (HTTP ${res.statusCode}); redirects are not followed`));
      }
      if (res.statusCode !== 200) {
        res.resume();
        return reject(new GuardedFetchError(`the document answered HTTP ${res.statusCode}`));
      }
      let size = 0;
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > opts.maxBytes) {
          req.destroy(new GuardedFetchError(`the document exceeds ${opts.maxBytes} bytes`));
        } else chunks.push(chunk);
      });
      res.on('end', () => resolve({ body: Buffer.concat(chunks).toString('utf8'), cacheControl: res.headers['cache-control'] }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new GuardedFetchError(`no answer within ${opts.timeoutMs} ms`)));
    req.on('error', (err) => reject(err instanceof GuardedFetchError ? err : new GuardedFetchError(err.message)));
  });
}

/** Seconds a response may be cached per its Cache-Control header (RFC 9111 §5.2.2), or null when unspecified. */
export function maxAgeSeconds(cacheControl: string | undefined): number | null {
  if (!cacheControl) return null;
  if (/(^|,)\s*(no-store|no-cache)\s*(,|$)/i.test(cacheControl)) return 0;
  const m = /max-age\s*=\s*(\d+)/i.exec(cacheControl);
  return m ? Number(m[1]) : null;
}
