import * as client from 'openid-client';
import { outboundRequest } from '../../common/ssrf';

const HTTP_TIMEOUT_MS = 10_000;
/** Discovery documents, JWKS and token answers are a few kilobytes. */
const MAX_ANSWER_BYTES = 1_048_576;
const MAX_REDIRECTS = 3;

/** A provider the gateway could not reach (discovery, JWKS, token endpoint): its message names the URL, never a secret. */
export class ProviderUnreachableError extends Error {}

/**
 * The fetch openid-client uses for one provider (its customFetch): every request (discovery, JWKS,
 * token endpoint) goes through the SSRF guard's outboundRequest, with its total deadline and size cap.
 *
 * Which addresses may be reached (`privateNetworks`):
 * - 'issuer' (a provider of config.yaml): the issuer's origin is the administrator's, trusted as the file
 *   is (a Keycloak on the LAN, a test provider on loopback); every other URL was learned from the
 *   provider's discovery document or a redirect and must lead to a public address. This is the rule
 *   upstream-oauth/upstream-http.ts applies to an upstream's authorization server.
 * - 'none' (a provider added in the console): only public addresses, as for console upstreams.
 * - 'all': a console provider when upstreams_policy.allow_private_networks is on.
 */
export function providerFetch(provider: { issuer: string }, privateNetworks: 'issuer' | 'none' | 'all' = 'issuer'): client.CustomFetch {
  const trustedOrigin = new URL(provider.issuer).origin;
  return async (url, init) => {
    try {
      const res = await outboundRequest(url, {
        method: init.method === 'POST' ? 'POST' : 'GET',
        headers: init.headers,
        // openid-client sends form bodies as URLSearchParams or strings.
        body: typeof init.body === 'string' || init.body instanceof URLSearchParams ? init.body.toString() : undefined,
        timeoutMs: HTTP_TIMEOUT_MS,
        maxBytes: MAX_ANSWER_BYTES,
        maxRedirects: MAX_REDIRECTS,
        allowPrivateNetworks: privateNetworks === 'all' || (privateNetworks === 'issuer' && ((target) => target.origin === trustedOrigin)),
      });
      const headers = new Headers();
      for (const [name, value] of Object.entries(res.headers)) {
        for (const v of Array.isArray(value) ? value : value === undefined ? [] : [value]) headers.append(name, v);
      }
      // The Fetch standard forbids a body on these statuses.
      const nullBody = res.status === 204 || res.status === 205 || res.status === 304;
      return new Response(nullBody ? null : res.body, { status: res.status, headers });
    } catch (err) {
      throw new ProviderUnreachableError(`${url} is unreachable (${(err as Error).message})`);
    }
  };
}
