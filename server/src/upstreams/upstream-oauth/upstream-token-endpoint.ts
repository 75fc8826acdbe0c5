import * as oauth from 'oauth4webapi';
import { Upstream } from '../upstream';
import { AuthServer } from './auth-server-discovery';
import { AuthorizationResponse, checkedAuthorizationResponse } from './authorization-request';
import { clientAuthentication, oauthClient, UpstreamClientRegistration } from './upstream-client';
import { requestOptions } from './upstream-http';
import { GrantRejected, UpstreamAuthUnavailableError } from './upstream-oauth.errors';
import { StoredUpstreamTokens } from './upstream-token-store';

/** A grant the gateway redeems: the code of an authorization response (RFC 6749 §4.1.3, with the PKCE verifier) or a refresh token (§6). */
export type UpstreamGrant =
  { grant_type: 'authorization_code'; response: AuthorizationResponse; redirect_uri: string; code_verifier: string } | { grant_type: 'refresh_token'; refresh_token: string };

/**
 * Redeems a grant at the upstream's token endpoint, for its RFC 8707 resource (§2.2); throws GrantRejected
 * for an OAuth error answer and UpstreamAuthUnavailableError for anything else that is not tokens. An
 * authorization response that does not check out (RFC 9207) throws before any request.
 * `previous` are the tokens being refreshed.
 */
export async function requestTokens(
  upstream: Upstream,
  server: AuthServer,
  client: UpstreamClientRegistration,
  grant: UpstreamGrant,
  previous: StoredUpstreamTokens | null,
): Promise<StoredUpstreamTokens> {
  const as = server.metadata;
  const c = oauthClient(client);
  const auth = clientAuthentication(client);
  const options = { ...requestOptions(upstream), additionalParameters: { resource: server.resource } };
  const callback = grant.grant_type === 'authorization_code' ? checkedAuthorizationResponse(server, client, grant.response) : null;
  let tokens: oauth.TokenEndpointResponse;
  try {
    tokens =
      grant.grant_type === 'refresh_token'
        ? await oauth.processRefreshTokenResponse(as, c, await oauth.refreshTokenGrantRequest(as, c, auth, grant.refresh_token, options))
        : await oauth.processAuthorizationCodeResponse(as, c, await oauth.authorizationCodeGrantRequest(as, c, auth, callback!, grant.redirect_uri, grant.code_verifier, options));
  } catch (err) {
    throw await tokenError(err);
  }
  // oauth4webapi also takes DPoP-bound tokens; the gateway sends only bearer tokens (RFC 6750).
  if (tokens.token_type !== 'bearer') throw new GrantRejected('unsupported_token_type', `token_type ${tokens.token_type.slice(0, 40)} is not supported`);
  return {
    access_token: tokens.access_token,
    // RFC 6749 §6: the AS may keep the refresh token; then the old one stays valid.
    refresh_token: tokens.refresh_token ?? previous?.refresh_token ?? null,
    expires_at: tokens.expires_in !== undefined ? Date.now() + tokens.expires_in * 1000 : null,
    scope: tokens.scope ?? previous?.scope ?? null,
  };
}

/** Why the token endpoint gave no tokens: its refusal (GrantRejected) or its unavailability. */
async function tokenError(err: unknown): Promise<Error> {
  if (err instanceof UpstreamAuthUnavailableError) return err;
  if (err instanceof oauth.ResponseBodyError) return new GrantRejected(err.error, err.error_description ?? null);
  // The answer cannot be used, and asking again will not change that.
  if (err instanceof oauth.UnsupportedOperationError) return new GrantRejected('unsupported_token_type', err.message);
  const answer = err instanceof oauth.WWWAuthenticateChallengeError ? err.response : (err as { cause?: unknown }).cause;
  if (answer instanceof Response) {
    const rejected = await oauthErrorOf(answer);
    if (rejected) return rejected;
    if (answer.status !== 200) return new UpstreamAuthUnavailableError(`token endpoint answered HTTP ${answer.status}`);
  }
  return new UpstreamAuthUnavailableError(`token endpoint answer refused: ${(err as Error).message}`);
}

/**
 * The RFC 6749 §5.2 error of a 4xx answer that oauth4webapi does not read as one: with a WWW-Authenticate
 * challenge (a 401 invalid_client, §5.2) or without the application/json content type, as the gateway has
 * always taken it.
 */
async function oauthErrorOf(answer: Response): Promise<GrantRejected | null> {
  if (answer.status < 400 || answer.status >= 500 || answer.bodyUsed) return null;
  const body = (await answer.json().catch(() => null)) as { error?: unknown; error_description?: unknown } | null;
  if (!body || typeof body.error !== 'string') return null;
  return new GrantRejected(body.error, typeof body.error_description === 'string' ? body.error_description : null);
}
