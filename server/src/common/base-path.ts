import { withoutTrailingSlashes } from './trailing-slashes';

/**
 * PUBLIC_URL may carry a path (`https://example.com/gatehouse`): the gateway is then served under it
 * by a reverse proxy that either strips it (the gateway sees `/authorize`) or keeps it (the gateway
 * sees `/gatehouse/authorize`). Inside, every route stays at the root: `gatewayPath` maps what
 * arrives to that, and whatever the gateway hands out (issuer, endpoints, redirects, form actions,
 * cookie paths, the console's asset URLs) is the public path, base path first.
 */

/**
 * The first path segments the gateway serves itself. A base path starting with one is refused:
 * behind a proxy that strips the prefix, `/admin/...` could no longer tell the console from a
 * prefixed request. Compared case-insensitively (Express routes are).
 */
export const GATEWAY_ROUTES: readonly string[] = [
  'admin',
  'mcp',
  'login',
  'logout',
  'authorize',
  'token',
  'register',
  'revoke',
  'introspect',
  'invite',
  'oauth',
  '.well-known',
  'healthz',
  'readyz',
  'metrics',
  '_demo',
];

/** Segments of RFC 3986 unreserved characters only: a base path is compared byte for byte, so no percent-encoding. */
const BASE_PATH = /^(\/[A-Za-z0-9._~-]+)*$/;

/** The path of the public URL without trailing slashes: '' when the gateway is at the root, else e.g. '/gatehouse'. */
export function basePathOf(publicUrl: string): string {
  return withoutTrailingSlashes(new URL(publicUrl).pathname);
}

/** Why `publicUrl` cannot be the gateway's public URL, or null when it can. */
export function publicUrlProblem(publicUrl: string): string | null {
  let url: URL;
  try {
    url = new URL(publicUrl);
  } catch {
    return 'must be a URL';
  }
  // RFC 8414 §2: the issuer (this URL) has no query or fragment component.
  if (url.search || url.hash || /[?#]/.test(publicUrl)) return 'must not have a query or fragment (it is the OAuth issuer, RFC 8414 §2)';
  const base = withoutTrailingSlashes(url.pathname);
  if (!BASE_PATH.test(base)) return `its path ${JSON.stringify(url.pathname)} may only have segments of letters, digits, ".", "_", "~" and "-"`;
  const segments = base.split('/').filter(Boolean);
  if (segments.some((s) => s === '.' || s === '..')) return 'its path must not have "." or ".." segments';
  const first = segments[0]?.toLowerCase();
  if (first && GATEWAY_ROUTES.includes(first)) return `its path must not start with /${segments[0]}, a path the gateway serves itself`;
  return null;
}

/** Well-known documents whose URL inserts the issuer's or resource's path after the well-known name (RFC 8414 §3.1, RFC 9728 §3.1). */
const WELL_KNOWN = '/.well-known/';

/**
 * The path a route of the gateway has for the request-target `url` (path and query) received
 * through a proxy, with `base` the base path (not ''):
 * - `/gatehouse/authorize?x` (proxy keeps the prefix) → `/authorize?x`; `/gatehouse` → `/`;
 * - `/.well-known/oauth-authorization-server/gatehouse` → `/.well-known/oauth-authorization-server`
 *   and `/.well-known/oauth-protected-resource/gatehouse/mcp/x` → `/.well-known/oauth-protected-resource/mcp/x`:
 *   the well-known URLs of an issuer or resource with a path live at the host root, the path
 *   inserted after the well-known name (RFC 8414 §3.1, RFC 9728 §3.1);
 * - anything else (the proxy stripped the prefix) as it is.
 */
export function gatewayPath(url: string, base: string): string {
  if (url.startsWith(base) && isBoundary(url, base.length)) {
    const rest = url.slice(base.length);
    return rest.startsWith('/') ? rest : `/${rest}`;
  }
  if (url.startsWith(WELL_KNOWN)) {
    const nameEnd = url.indexOf('/', WELL_KNOWN.length);
    if (nameEnd > 0 && url.startsWith(base, nameEnd) && isBoundary(url, nameEnd + base.length)) {
      return url.slice(0, nameEnd) + url.slice(nameEnd + base.length);
    }
  }
  return url;
}

/** The prefix ends at `at`: the end, a path separator or the query. */
function isBoundary(url: string, at: number): boolean {
  return at === url.length || url[at] === '/' || url[at] === '?';
}
