import * as oauth from 'oauth4webapi';
import { Upstream } from '../upstream';
import { AuthServer } from './auth-server-discovery';
import { oauthClient, UpstreamClientRegistration } from './upstream-client';

/** What comes back to the callback (RFC 6749 §4.1.2, RFC 9207 §2). */
export interface AuthorizationResponse {
  state: string;
  code: string;
  iss: string | null;
}

/**
 * The authorization request (RFC 6749 §4.1.1): code flow with a fresh PKCE verifier (RFC 7636 §4.1, S256
 * §4.2) and state, the RFC 8707 resource (§2.1) and the configured scopes. The URL is put together here:
 * oauth4webapi builds no authorization URLs.
 */
export async function authorizationRequest(
  upstream: Upstream,
  server: AuthServer,
  client: UpstreamClientRegistration,
  redirectUri: string,
): Promise<{ url: string; state: string; verifier: string }> {
  const verifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const url = new URL(server.metadata.authorization_endpoint!);
  const params: Record<string, string> = {
    response_type: 'code',
    client_id: client.clientId,
    redirect_uri: redirectUri,
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    resource: server.resource,
  };
  const scopes = upstream.oauth?.scopes ?? [];
  if (scopes.length) params.scope = scopes.join(' ');
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  return { url: url.toString(), state, verifier };
}

/**
 * Checks the authorization response (the state was already matched to its pending sign-in): RFC 9207 §2.4,
 * its `iss` must be the issuer, and is required when the metadata says the AS sends it. When only endpoints
 * are configured the issuer is unknown, so `iss` is not checked. Returns the parameters the code exchange takes.
 */
export function checkedAuthorizationResponse(server: AuthServer, client: UpstreamClientRegistration, response: AuthorizationResponse): URLSearchParams {
  const params = new URLSearchParams({ state: response.state, code: response.code });
  if (response.iss !== null && server.issuerKnown) params.set('iss', response.iss);
  return oauth.validateAuthResponse(server.metadata, oauthClient(client), params, response.state);
}
