/**
 * A path on the gateway's own origin, safe to redirect a browser to after a sign-in: "/x", but
 * never "//host" or "/\host", which browsers read as another host (an open redirect, RFC 9700 §4.11).
 */
export function isSameOriginPath(value: unknown): value is string {
  return typeof value === 'string' && value.startsWith('/') && !value.startsWith('//') && !value.startsWith('/\\');
}
