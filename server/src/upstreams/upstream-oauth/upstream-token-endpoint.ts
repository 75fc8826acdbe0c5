import { Upstream } from '../upstream';
import { authenticateClient, OAuthClient } from './upstream-client';
import { httpRequest, parseJson } from './upstream-http';
import { GrantRejected, UpstreamAuthUnavailableError } from './upstream-oauth.errors';
import { StoredUpstreamTokens } from './upstream-token-store';

interface TokenResponse {
  access_token: string;
  token_type?: string;
  expires_in?: number | string;
  refresh_token?: string;
  scope?: string;
}

/**
 * POSTs a grant to the upstream's token endpoint; throws GrantRejected for an OAuth error answer and
 * UpstreamAuthUnavailableError for anything else that is not tokens. `previous` are the tokens being refreshed.
 */
export async function requestTokens(
  upstream: Upstream,
  tokenEndpoint: string,
  client: OAuthClient,
  grant: Record<string, string>,
  previous: StoredUpstreamTokens | null,
): Promise<StoredUpstreamTokens> {
  const body = new URLSearchParams(grant);
  const headers: Record<string, string> = { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' };
  authenticateClient(client, headers, body);
  const res = await httpRequest(upstream, tokenEndpoint, { method: 'POST', headers, body: body.toString() });
  const json = parseJson(res.text);
  if (res.status !== 200) {
    if (res.status >= 400 && res.status < 500 && json && typeof json.error === 'string') {
      throw new GrantRejected(json.error, typeof json.error_description === 'string' ? json.error_description : null);
    }
    throw new UpstreamAuthUnavailableError(`token endpoint answered HTTP ${res.status}`);
  }
  return storedTokens(json as Partial<TokenResponse> | null, previous);
}

function storedTokens(t: Partial<TokenResponse> | null, previous: StoredUpstreamTokens | null): StoredUpstreamTokens {
  if (!t || typeof t.access_token !== 'string' || !t.access_token) throw new UpstreamAuthUnavailableError('token endpoint answered without an access_token');
  if (t.token_type !== undefined && String(t.token_type).toLowerCase() !== 'bearer') {
    throw new GrantRejected('unsupported_token_type', `token_type ${String(t.token_type).slice(0, 40)} is not supported`);
  }
  const expiresIn = t.expires_in === undefined || t.expires_in === null ? NaN : Number(t.expires_in);
  return {
    access_token: t.access_token,
    // RFC 6749 §6: the AS may keep the refresh token; then the old one stays valid.
    refresh_token: typeof t.refresh_token === 'string' && t.refresh_token ? t.refresh_token : (previous?.refresh_token ?? null),
    expires_at: Number.isFinite(expiresIn) && expiresIn >= 0 ? Date.now() + expiresIn * 1000 : null,
    scope: typeof t.scope === 'string' ? t.scope : (previous?.scope ?? null),
  };
}
