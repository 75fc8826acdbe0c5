import * as oauth from 'oauth4webapi';
import { withoutTrailingSlashes } from '../../common/trailing-slashes';
import { Upstream } from '../upstream';
import { PerUpstreamCache } from './per-upstream-cache';
import { protectedResourceMetadata } from './protected-resource-metadata';
import { requestOptions } from './upstream-http';

/** An upstream's authorization server, as the gateway talks to it. */
export interface AuthServer {
  /** Its RFC 8414 metadata (with the configured endpoints in place of the discovered ones), as oauth4webapi takes it. */
  metadata: oauth.AuthorizationServer;
  /**
   * False when only endpoints are configured: oauth4webapi needs an issuer, so the authorization endpoint's
   * origin stands in, and the RFC 9207 `iss` of an authorization response cannot be checked against it.
   */
  issuerKnown: boolean;
  /** The RFC 8707 resource to request tokens for. */
  resource: string;
}

/**
 * Finds each upstream's authorization server (cached in memory): configured endpoints, else RFC 8414
 * metadata of the configured issuer, else RFC 9728 protected-resource metadata of the upstream URL →
 * its first authorization server → RFC 8414 / OpenID discovery.
 */
export class AuthServerDiscovery {
  private readonly cache = new PerUpstreamCache<AuthServer>();

  authServer(upstream: Upstream): Promise<AuthServer> {
    return this.cache.get(upstream.slug, JSON.stringify([upstream.url, upstream.oauth]), () => discover(upstream));
  }

  forget(slug: string): void {
    this.cache.delete(slug);
  }
}

async function discover(upstream: Upstream): Promise<AuthServer> {
  const o = upstream.oauth;
  if (o?.authorizationEndpoint && o.tokenEndpoint) {
    const metadata: oauth.AuthorizationServer = {
      issuer: o.issuer ?? new URL(o.authorizationEndpoint).origin,
      authorization_endpoint: o.authorizationEndpoint,
      token_endpoint: o.tokenEndpoint,
      ...(o.registrationEndpoint ? { registration_endpoint: o.registrationEndpoint } : {}),
    };
    return { metadata, issuerKnown: !!o.issuer, resource: upstream.url };
  }
  const protectedResource = o?.issuer ? null : await protectedResourceMetadata(upstream);
  const issuer = o?.issuer ?? protectedResource!.issuer;
  const discovered = await authorizationServerMetadata(upstream, issuer);
  const metadata: oauth.AuthorizationServer = {
    ...discovered,
    authorization_endpoint: o?.authorizationEndpoint ?? discovered.authorization_endpoint,
    token_endpoint: o?.tokenEndpoint ?? discovered.token_endpoint,
    registration_endpoint: o?.registrationEndpoint ?? discovered.registration_endpoint,
  };
  if (typeof metadata.authorization_endpoint !== 'string' || typeof metadata.token_endpoint !== 'string') {
    throw new Error(`the authorization server metadata of ${issuer} has no authorization_endpoint or token_endpoint`);
  }
  // OAuth 2.1 §7.5.2 / MCP: PKCE with S256; an AS that lists its methods must list S256.
  const methods = metadata.code_challenge_methods_supported;
  if (Array.isArray(methods) && !methods.includes('S256')) {
    throw new Error(`the authorization server ${issuer} does not support PKCE with S256`);
  }
  return { metadata, issuerKnown: true, resource: protectedResource?.resource ?? upstream.url };
}

/**
 * RFC 8414 §3.1 (well-known path inserted before the issuer's path), then OpenID Connect Discovery: inserted
 * (as MCP clients do; by hand, oauth4webapi only appends) and appended (§4). A missing or non-JSON document
 * is skipped; one for another issuer is refused (RFC 8414 §3.3).
 */
async function authorizationServerMetadata(upstream: Upstream, issuer: string): Promise<oauth.AuthorizationServer> {
  let issuerUrl: URL;
  try {
    issuerUrl = new URL(issuer);
  } catch {
    throw new Error(`authorization server issuer ${JSON.stringify(issuer)} is not a URL`);
  }
  const tried: string[] = [];
  const options = requestOptions(upstream, (url) => tried.push(url));
  const path = withoutTrailingSlashes(issuerUrl.pathname);
  const requests = [
    () => oauth.discoveryRequest(issuerUrl, { ...options, algorithm: 'oauth2' }),
    ...(path ? [() => options[oauth.customFetch](`${issuerUrl.origin}/.well-known/openid-configuration${path}`, { method: 'GET', headers: { accept: 'application/json' } })] : []),
    () => oauth.discoveryRequest(issuerUrl, { ...options, algorithm: 'oidc' }),
  ];
  for (const request of requests) {
    const res = await request();
    if (res.status !== 200) continue;
    try {
      return await oauth.processDiscoveryResponse(issuerUrl, res);
    } catch (err) {
      if ((err as oauth.OperationProcessingError).code === oauth.JSON_ATTRIBUTE_COMPARISON) {
        const named = (err as { cause?: { body?: { issuer?: unknown } } }).cause?.body?.issuer;
        throw new Error(`the metadata at ${tried.at(-1)} is for issuer ${String(named)}, not ${issuer}`);
      }
      tried[tried.length - 1] += ` (${(err as Error).message})`;
    }
  }
  throw new Error(`no authorization server metadata (RFC 8414 / OpenID discovery) for ${issuer} at ${tried.join(', ')}`);
}
