import { randomFillSync } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

/**
 * W3C Trace Context §3.2 traceparent: version-traceid-parentid-flags, lowercase hex. Version ff is
 * invalid (§3.2.2.1); version 00 is exactly these four fields; a later version may append fields
 * after a dash (§3.2.4), which a 00 parser ignores.
 */
const TRACEPARENT = /^(?!ff)[0-9a-f]{2}-(?!0{32})([0-9a-f]{32})-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}(-.*)?$/;

/**
 * The trace id of the request, for the access line: the client's, when it sent a valid traceparent
 * (forwarded upstream unchanged, as a proxy that takes no part in tracing does, §3.2), else a new
 * one set on the request (trace id, parent id, flags 01 = sampled), so the upstream's logs and the
 * gateway's access line name the same trace. A tracestate that came with an invalid traceparent
 * belongs to no trace we forward, so it goes (§3.3: it is ignored without a valid traceparent).
 */
export function ensureTraceparent(headers: IncomingHttpHeaders): string {
  const sent = headers.traceparent;
  if (typeof sent === 'string') {
    const match = TRACEPARENT.exec(sent);
    if (match && (sent.startsWith('00-') ? match[2] === undefined : true)) return match[1];
  }
  const traceId = randomHex(16);
  headers.traceparent = `00-${traceId}-${randomHex(8)}-01`;
  delete headers.tracestate;
  return traceId;
}

/**
 * Random ids from a pool refilled in one call every 256 requests: a proxied request then costs a
 * slice of it rather than a randomBytes() call (and its buffer) per id. Not secret, only unique.
 */
const POOL = Buffer.allocUnsafe(24 * 256);
let used = POOL.length;

function randomHex(bytes: number): string {
  if (used + bytes > POOL.length) {
    randomFillSync(POOL);
    used = 0;
  }
  const hex = POOL.toString('hex', used, used + bytes);
  used += bytes;
  // §3.2.2.3/§3.2.2.4: an all-zero id is invalid (chance 2^-64 at most, but cheap to rule out).
  return /^0+$/.test(hex) ? randomHex(bytes) : hex;
}
