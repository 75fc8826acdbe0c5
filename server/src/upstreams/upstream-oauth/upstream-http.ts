import { OutboundAddressRefused, outboundRequest } from '../../common/ssrf';
import { Upstream } from '../upstream';
import { UpstreamAuthUnavailableError } from './upstream-oauth.errors';

const HTTP_TIMEOUT_MS = 15_000;
/** Metadata documents, registration and token answers are a few kilobytes. */
const MAX_ANSWER_BYTES = 1_048_576;
const MAX_REDIRECTS = 5;

export interface HttpAnswer {
  status: number;
  text: string;
  headers: Headers;
}

export interface HttpRequest {
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: string;
}

/**
 * One request to an upstream or its authorization server, through the SSRF guard; UpstreamAuthUnavailableError
 * when it cannot be reached. GETs (metadata documents) follow redirects; POSTs (registration, tokens) do not.
 *
 * Which addresses may be reached: the origins written in the upstream's configuration (its URL, issuer and
 * endpoints) are the administrator's choice, trusted like the proxy trusts the upstream URL, and may be on
 * loopback or the LAN. Every other URL was learned from a remote document (RFC 9728 authorization_servers,
 * RFC 8414 endpoints, a redirect), which the upstream controls: it must lead to a public address. To use an
 * authorization server on a private address, write its issuer (or endpoints) in the configuration.
 * Upstreams added in the console (`upstream.guarded`) get no such trust: everything they reach must be public.
 */
export async function httpRequest(upstream: Upstream, url: string, init: HttpRequest): Promise<HttpAnswer> {
  const trusted = configuredOrigins(upstream);
  try {
    const res = await outboundRequest(url, {
      ...init,
      timeoutMs: HTTP_TIMEOUT_MS,
      maxBytes: MAX_ANSWER_BYTES,
      maxRedirects: MAX_REDIRECTS,
      // A guarded upstream (added in the console) is not trusted with private addresses, not even its own origins.
      allowPrivateNetworks: (target) => !upstream.guarded && trusted.has(target.origin),
    });
    return { status: res.status, text: res.body, headers: toHeaders(res.headers) };
  } catch (err) {
    const hint = err instanceof OutboundAddressRefused ? '; write it in auth.oauth of the configuration to allow a private address' : '';
    throw new UpstreamAuthUnavailableError(`${url} is unreachable (${(err as Error).message}${hint})`);
  }
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

function toHeaders(raw: Record<string, string | string[] | undefined>): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(raw)) {
    for (const v of Array.isArray(value) ? value : value === undefined ? [] : [value]) headers.append(name, v);
  }
  return headers;
}

/** The body as a JSON object; null when it is anything else. */
export function parseJson(text: string): Record<string, any> | null {
  try {
    const v = JSON.parse(text);
    return v && typeof v === 'object' && !Array.isArray(v) ? v : null;
  } catch {
    return null;
  }
}
