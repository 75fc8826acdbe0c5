import type { IncomingHttpHeaders, OutgoingHttpHeader } from 'node:http';

/**
 * Headers that describe one connection, not the message (RFC 9110 §7.6.1): a proxy removes
 * them, in both directions, whether or not the Connection header names them. Proxy-Authenticate
 * and Proxy-Authorization are for the next proxy only (RFC 9110 §11.7.1, §11.7.2).
 * Transfer-Encoding is handled apart: node re-frames every message it forwards (see below).
 */
export const HOP_BY_HOP_HEADERS: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'upgrade',
]);

const NO_OPTIONS: readonly string[] = [];

/** The header names listed in a Connection header, lower-cased (RFC 9110 §7.6.1: comma-separated tokens). */
export function connectionOptions(value: string | string[] | undefined): readonly string[] {
  // The values clients send on almost every request name no other header: no allocation for them.
  if (!value || value === 'keep-alive' || value === 'close') return NO_OPTIONS;
  const list = Array.isArray(value) ? value.join(',') : value;
  return list
    .split(',')
    .map((token) => token.trim().toLowerCase())
    .filter((token) => token && token !== 'keep-alive' && token !== 'close');
}

/**
 * Removes, in place, every hop-by-hop header of a request to be forwarded: Connection, the
 * headers it names, and the fixed list above. Transfer-Encoding stays: node's ClientRequest
 * frames the body it pipes by that header (without it, a chunked GET or DELETE body would
 * be sent unframed), and it never reaches the upstream as the client wrote it.
 */
export function stripHopByHop(headers: IncomingHttpHeaders): void {
  for (const name of connectionOptions(headers.connection)) delete headers[name];
  for (const name of HOP_BY_HOP_HEADERS) delete headers[name];
}

/**
 * Copies an upstream response's headers to the client's response, minus the hop-by-hop ones,
 * the ones its Connection header names, and `alsoDropped`. Transfer-Encoding is never copied:
 * node chooses the framing of the client's response itself (chunked for HTTP/1.1, close-delimited
 * for HTTP/1.0), as a proxy must (RFC 9112 §6.1), and sets its own Connection header.
 */
export function copyResponseHeaders(from: IncomingHttpHeaders, to: { setHeader(name: string, value: OutgoingHttpHeader): unknown }, alsoDropped: ReadonlySet<string>): void {
  const named = connectionOptions(from.connection);
  for (const name in from) {
    const value = from[name];
    if (value === undefined || name === 'transfer-encoding' || HOP_BY_HOP_HEADERS.has(name) || alsoDropped.has(name)) continue;
    if (named.length && named.includes(name)) continue;
    to.setHeader(name, value);
  }
}
