import * as oauth from 'oauth4webapi';
import { OutboundAddressRefused, outboundRequest } from '../../common/ssrf';
import { Upstream } from '../upstream';
import { UpstreamAuthUnavailableError } from './upstream-oauth.errors';

const HTTP_TIMEOUT_MS = 15_000;
/** Metadata documents, registration and token answers are a few kilobytes. */
const MAX_ANSWER_BYTES = 1_048_576;
const MAX_REDIRECTS = 5;

/** oauth4webapi's customFetch: its bodies are form parameters (token requests) or a JSON string (registration). */
export type Fetch = (url: string, init: { method: string; headers: Record<string, string>; body?: string | URLSearchParams }) => Promise<Response>;

/**
 * The options every oauth4webapi call of an upstream takes: its requests go through the SSRF guard.
 *
 * allowInsecureRequests: the gateway has always fetched http: as well as https: URLs here; what keeps a
 * URL learned from a remote document away from private networks is the guard (by address), not the
 * scheme, and administrators configure authorization servers on loopback or the LAN over plain http.
 * `onRequest` sees each URL requested (for error messages that say where the gateway looked).
 */
export function requestOptions(upstream: Upstream, onRequest?: (url: string) => void): { [oauth.customFetch]: Fetch; [oauth.allowInsecureRequests]: true } {
  const fetch = guardedFetch(upstream);
  const recorded: Fetch = (url, init) => {
    onRequest?.(url);
    return fetch(url, init);
  };
  return { [oauth.customFetch]: recorded, [oauth.allowInsecureRequests]: true };
}

/**
 * A fetch (for oauth4webapi's customFetch) over the SSRF guard's outboundRequest, so its deadline for the
 * whole exchange and its size cap apply; UpstreamAuthUnavailableError when the URL cannot be reached.
 * GETs (metadata documents) follow redirects, each one checked again; POSTs (registration, tokens) do not.
 *
 * Which addresses may be reached: the origins written in the upstream's configuration (its URL, issuer and
 * endpoints) are the administrator's choice, trusted like the proxy trusts the upstream URL, and may be on
 * loopback or the LAN. Every other URL was learned from a remote document (RFC 9728 authorization_servers,
 * RFC 8414 endpoints, a redirect), which the upstream controls: it must lead to a public address. To use an
 * authorization server on a private address, write its issuer (or endpoints) in the configuration.
 * Upstreams added in the console (`upstream.guarded`) get no such trust: everything they reach must be public.
 */
export function guardedFetch(upstream: Upstream): Fetch {
  const trusted = configuredOrigins(upstream);
  return async (url, init) => {
    try {
      const res = await outboundRequest(url, {
        method: init.method === 'POST' ? 'POST' : 'GET',
        headers: init.headers,
        body: init.body === undefined || init.body === null ? undefined : String(init.body),
        timeoutMs: HTTP_TIMEOUT_MS,
        maxBytes: MAX_ANSWER_BYTES,
        maxRedirects: MAX_REDIRECTS,
        // A guarded upstream (added in the console) is not trusted with private addresses, not even its own origins.
        allowPrivateNetworks: (target) => !upstream.guarded && trusted.has(target.origin),
      });
      return toResponse(res.status, res.headers, res.body);
    } catch (err) {
      const hint = err instanceof OutboundAddressRefused ? '; write it in auth.oauth of the configuration to allow a private address' : '';
      throw new UpstreamAuthUnavailableError(`${url} is unreachable (${(err as Error).message}${hint})`);
    }
  };
}

/** The origins the administrator configured for this upstream. */
export function configuredOrigins(upstream: Upstream): Set<string> {
  const o = upstream.oauth;
  const origins = new Set<string>();
  for (const url of [upstream.url, o?.issuer, o?.authorizationEndpoint, o?.tokenEndpoint, o?.registrationEndpoint]) {
    if (!url) continue;
    try {
      origins.add(new URL(url).origin);
    } catch {
      // Not a URL: the configuration validator refuses these; nothing to trust.
    }
  }
  return origins;
}

function toResponse(status: number, raw: Record<string, string | string[] | undefined>, body: string): Response {
  if (status < 200 || status > 599) throw new Error(`unexpected HTTP status ${status}`);
  const headers = new Headers();
  for (const [name, value] of Object.entries(raw)) {
    for (const v of Array.isArray(value) ? value : value === undefined ? [] : [value]) headers.append(name, v);
  }
  // The Fetch standard forbids a body on these statuses.
  const nullBody = status === 204 || status === 205 || status === 304;
  return new Response(nullBody ? null : body, { status, headers });
}
