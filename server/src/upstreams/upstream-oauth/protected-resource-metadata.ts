import * as oauth from 'oauth4webapi';
import { Upstream } from '../upstream';
import { Fetch, guardedFetch, requestOptions } from './upstream-http';

/** What the upstream says about itself (RFC 9728): its authorization server and its resource identifier. */
export interface ProtectedResource {
  issuer: string;
  /** The resource value of the metadata, to request tokens for (RFC 8707). */
  resource: string;
}

/**
 * RFC 9728 discovery of the upstream's authorization server: its protected-resource metadata at the
 * path-specific well-known URL (§3.1), then at the root (as MCP clients do), then at the resource_metadata
 * URL of its 401 challenge (§5.1). A document must name as its resource the upstream URL or its origin:
 * §3.3 wants the URL the document's location was built from (the root's: the origin), and MCP servers name
 * their endpoint's URL wherever they serve it. Absent or unusable documents are skipped.
 */
export async function protectedResourceMetadata(upstream: Upstream): Promise<ProtectedResource> {
  const tried: string[] = [];
  const options = requestOptions(upstream, (url) => tried.push(url));
  const requested = new URL(upstream.url);
  // The resource identifier: the upstream URL without its query (which may carry a key) or fragment.
  const resource = new URL(requested.origin + requested.pathname);
  const root = new URL(requested.origin);
  const identifiers = resource.href === root.href ? [resource] : [resource, root];

  for (const identifier of identifiers) {
    const doc = await usableDocument(oauth.resourceDiscoveryRequest(identifier, options), identifiers, tried);
    if (doc) return firstAuthorizationServer(doc, tried);
  }
  const fromChallenge = await resourceMetadataFromChallenge(upstream, guardedFetch(upstream));
  if (fromChallenge) {
    const doc = await usableDocument(options[oauth.customFetch](fromChallenge, { method: 'GET', headers: { accept: 'application/json' } }), identifiers, tried);
    if (doc) return firstAuthorizationServer(doc, tried);
  }
  throw new Error(
    `could not discover the authorization server: no OAuth protected resource metadata (RFC 9728) at ${tried.join(', ')}; ` +
      'set auth.oauth.issuer or the endpoints in the configuration',
  );
}

/** The document, validated for one of the identifiers; null when absent (any non-200 answer) or unusable (the reason is added to `tried`). */
async function usableDocument(answer: Promise<Response>, identifiers: URL[], tried: string[]): Promise<oauth.ResourceServer | null> {
  const res = await answer;
  if (res.status !== 200) return null;
  let reason = '';
  for (const identifier of identifiers) {
    try {
      return await oauth.processResourceDiscoveryResponse(identifier, res.clone());
    } catch (err) {
      reason = (err as Error).message;
    }
  }
  tried[tried.length - 1] += ` (${reason})`;
  return null;
}

function firstAuthorizationServer(doc: oauth.ResourceServer, tried: string[]): ProtectedResource {
  const servers = doc.authorization_servers;
  if (!Array.isArray(servers) || typeof servers[0] !== 'string') {
    throw new Error(`the protected resource metadata at ${tried.at(-1)} names no authorization_servers`);
  }
  return { issuer: servers[0], resource: doc.resource };
}

/**
 * The resource_metadata URL from the upstream's 401 WWW-Authenticate challenge (RFC 9728 §5.1), if it sends one.
 * Hand-written: oauth4webapi parses challenges only of requests made with an access token, and the MCP SDK's
 * parser ignores a relative URL.
 */
async function resourceMetadataFromChallenge(upstream: Upstream, fetch: Fetch): Promise<string | null> {
  try {
    const res = await fetch(upstream.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'ping' }),
    });
    if (res.status !== 401) return null;
    const m = /resource_metadata="([^"]+)"/i.exec(res.headers.get('www-authenticate') ?? '');
    return m ? new URL(m[1], upstream.url).toString() : null;
  } catch {
    return null;
  }
}
