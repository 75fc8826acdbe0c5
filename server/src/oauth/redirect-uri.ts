const MAX_LENGTH = 2000;
const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);

export function isLoopbackHost(hostname: string): boolean {
  return LOOPBACK_HOSTS.has(hostname) || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

const USERINFO_PROBLEM = 'must not contain a user name or password (userinfo)';
/** An authority with "@" in it, even an empty userinfo ("http://@host/") that URL parsing drops. */
const AUTHORITY_WITH_AT = /^[a-z][a-z0-9+.-]*:\/\/[^/?#\\]*@/i;

/**
 * A redirect URI must not carry a userinfo part (RFC 3986 §3.2.1): "http://evil@127.0.0.1/cb"
 * reads as a different site to people and to naive checks, and OAuth never needs one.
 */
export function hasUserinfo(value: string, parsed?: URL): boolean {
  if (AUTHORITY_WITH_AT.test(value)) return true;
  try {
    const url = parsed ?? new URL(value);
    return !!(url.username || url.password);
  } catch {
    return false;
  }
}

/** Why a redirect URI cannot be registered, or null when it is acceptable. */
export function redirectUriProblem(value: unknown): string | null {
  if (typeof value !== 'string' || !value) return 'must be a non-empty string';
  if (value.length > MAX_LENGTH) return `must be at most ${MAX_LENGTH} characters`;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'is not an absolute URL';
  }
  if (url.hash) return 'must not contain a fragment (RFC 6749 §3.1.2)';
  if (hasUserinfo(value, url)) return USERINFO_PROBLEM;
  if (url.protocol === 'https:') return null;
  if (url.protocol === 'http:' && isLoopbackHost(url.hostname)) return null;
  return 'must use https, or http on a loopback host (RFC 8252 §7.3)';
}

/**
 * Exact string match (OAuth 2.1 §2.3.1), except that an http loopback redirect URI
 * matches on any port, since native clients pick one at run time (RFC 8252 §7.3).
 */
export function redirectUriMatches(registered: string, requested: string): boolean {
  if (hasUserinfo(requested)) return false;
  if (registered === requested) return true;
  let a: URL;
  let b: URL;
  try {
    a = new URL(registered);
    b = new URL(requested);
  } catch {
    return false;
  }
  if (a.protocol !== 'http:' || b.protocol !== 'http:' || !isLoopbackHost(a.hostname)) return false;
  return a.hostname === b.hostname && a.pathname === b.pathname && a.search === b.search && !b.hash;
}
