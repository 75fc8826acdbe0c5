import { Upstream } from '../upstream';
import { PerUpstreamCache } from './per-upstream-cache';
import { httpRequest, parseJson } from './upstream-http';

/** Where and how the gateway talks to an upstream's authorization server. */
export interface AuthServerEndpoints {
  issuer: string | null;
  authorizationEndpoint: string;
  tokenEndpoint: string;
  registrationEndpoint: string | null;
  /** token_endpoint_auth_methods_supported, or null when the AS did not say. */
  authMethods: string[] | null;
  /** The RFC 8707 resource to request tokens for. */
  resource: string;
}

/**
 * Finds each upstream's authorization server (cached in memory): configured endpoints, else RFC 8414
 * metadata of the configured issuer, else RFC 9728 protected-resource metadata of the upstream URL →
 * its first authorization server → RFC 8414 / OpenID discovery.
 */
export class UpstreamAsDiscovery {
  private readonly cache = new PerUpstreamCache<AuthServerEndpoints>();

  endpoints(upstream: Upstream): Promise<AuthServerEndpoints> {
    return this.cache.get(upstream.slug, JSON.stringify([upstream.url, upstream.oauth]), () => discoverEndpoints(upstream));
  }

  forget(slug: string): void {
    this.cache.delete(slug);
  }
}

async function discoverEndpoints(upstream: Upstream): Promise<AuthServerEndpoints> {
  const o = upstream.oauth;
  const resource = upstream.url;
  if (o?.authorizationEndpoint && o.tokenEndpoint) {
    return {
      issuer: o.issuer,
      authorizationEndpoint: o.authorizationEndpoint,
      tokenEndpoint: o.tokenEndpoint,
      registrationEndpoint: o.registrationEndpoint,
      authMethods: null,
      resource,
    };
  }
  let issuer = o?.issuer ?? null;
  let prmResource: string | null = null;
  if (!issuer) {
    const prm = await protectedResourceMetadata(upstream);
    issuer = prm.issuer;
    prmResource = prm.resource;
  }
  const meta = await authorizationServerMetadata(upstream, issuer);
  const authorizationEndpoint = o?.authorizationEndpoint ?? meta.authorization_endpoint;
  const tokenEndpoint = o?.tokenEndpoint ?? meta.token_endpoint;
  if (typeof authorizationEndpoint !== 'string' || typeof tokenEndpoint !== 'string') {
    throw new Error(`the authorization server metadata of ${issuer} has no authorization_endpoint or token_endpoint`);
  }
  const methods = meta.code_challenge_methods_supported;
  if (Array.isArray(methods) && !methods.includes('S256')) {
    throw new Error(`the authorization server ${issuer} does not support PKCE with S256`);
  }
  return {
    issuer,
    authorizationEndpoint,
    tokenEndpoint,
    registrationEndpoint: o?.registrationEndpoint ?? (typeof meta.registration_endpoint === 'string' ? meta.registration_endpoint : null),
    authMethods: Array.isArray(meta.token_endpoint_auth_methods_supported) ? meta.token_endpoint_auth_methods_supported.map(String) : null,
    resource: prmResource ?? resource,
  };
}

/** RFC 9728: the upstream's protected-resource metadata (path-specific, then root) → its first authorization server. */
async function protectedResourceMetadata(upstream: Upstream): Promise<{ issuer: string; resource: string | null }> {
  const url = new URL(upstream.url);
  const path = url.pathname.replace(/\/+$/, '');
  const candidates = [...new Set([`${url.origin}/.well-known/oauth-protected-resource${path}`, `${url.origin}/.well-known/oauth-protected-resource`])];
  const tried: string[] = [];
  for (const candidate of candidates) {
    const doc = await fetchJsonDocument(upstream, candidate, tried);
    if (doc) return firstAuthorizationServer(doc, candidate);
  }
  // Last resort (as MCP clients do): the resource_metadata named by the upstream's own 401 challenge.
  const fromChallenge = await resourceMetadataFromChallenge(upstream);
  if (fromChallenge && !candidates.includes(fromChallenge)) {
    const doc = await fetchJsonDocument(upstream, fromChallenge, tried);
    if (doc) return firstAuthorizationServer(doc, fromChallenge);
  }
  throw new Error(
    `could not discover the authorization server: no OAuth protected resource metadata (RFC 9728) at ${tried.join(', ')}; ` +
      'set auth.oauth.issuer or the endpoints in the configuration',
  );
}

function firstAuthorizationServer(doc: Record<string, any>, from: string): { issuer: string; resource: string | null } {
  const servers = doc.authorization_servers;
  if (!Array.isArray(servers) || typeof servers[0] !== 'string') {
    throw new Error(`the protected resource metadata at ${from} names no authorization_servers`);
  }
  return { issuer: servers[0], resource: typeof doc.resource === 'string' ? doc.resource : null };
}

/** The resource_metadata URL from the upstream's 401 WWW-Authenticate challenge, if it sends one. */
async function resourceMetadataFromChallenge(upstream: Upstream): Promise<string | null> {
  try {
    const res = await httpRequest(upstream, upstream.url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'ping' }),
    });
    if (res.status !== 401) return null;
    const m = /resource_metadata="([^"]+)"/i.exec(res.headers.get('www-authenticate') ?? '');
    return m ? new URL(m[1], upstream.url).toString() : null;
  } catch {
    return null;
  }
}

/** RFC 8414 (path insertion), then OpenID Connect discovery. */
async function authorizationServerMetadata(upstream: Upstream, issuer: string): Promise<Record<string, any>> {
  let url: URL;
  try {
    url = new URL(issuer);
  } catch {
    throw new Error(`authorization server issuer ${JSON.stringify(issuer)} is not a URL`);
  }
  const path = url.pathname.replace(/\/+$/, '');
  const candidates = path
    ? [
        `${url.origin}/.well-known/oauth-authorization-server${path}`,
        `${url.origin}/.well-known/openid-configuration${path}`,
        `${url.origin}${path}/.well-known/openid-configuration`,
      ]
    : [`${url.origin}/.well-known/oauth-authorization-server`, `${url.origin}/.well-known/openid-configuration`];
  const tried: string[] = [];
  for (const candidate of candidates) {
    const doc = await fetchJsonDocument(upstream, candidate, tried);
    if (!doc) continue;
    // RFC 8414 §3.3: the metadata must be about the issuer we asked for.
    if (typeof doc.issuer === 'string' && trimSlash(doc.issuer) !== trimSlash(issuer)) {
      throw new Error(`the metadata at ${candidate} is for issuer ${doc.issuer}, not ${issuer}`);
    }
    return doc;
  }
  throw new Error(`no authorization server metadata (RFC 8414 / OpenID discovery) for ${issuer} at ${tried.join(', ')}`);
}

/** GETs a JSON metadata document; null when absent (any non-200 or non-JSON answer). */
async function fetchJsonDocument(upstream: Upstream, url: string, tried: string[]): Promise<Record<string, any> | null> {
  tried.push(url);
  const res = await httpRequest(upstream, url, { method: 'GET', headers: { Accept: 'application/json' } });
  return res.status === 200 ? parseJson(res.text) : null;
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}
