import { AuthorizationCode } from '../authorization-code.entity';
import { OAuthClient } from '../client.entity';
import { Grant } from '../grant.entity';
import { InvalidGrant, InvalidRequest, InvalidScope, InvalidTarget, OAuthError, UnauthorizedClient } from '../oauth.errors';
import { PKCE_VALUE, verifyS256 } from '../pkce';
import { RefreshToken } from '../refresh-token.entity';

export type TokenParams = Record<string, unknown>;

/** What the checks need besides the request: no database, so they run as they are in unit tests. */
export interface TokenCheckContext {
  now: number;
  /** The slug of the upstream a RFC 8707 resource indicator names, if any. */
  upstreamSlugOf(resource: string): string | undefined;
}

/** An authorization_code request (OAuth 2.1 §4.1.3) with the code row it names, null when none. */
export interface CodeRequest {
  client: OAuthClient;
  params: TokenParams;
  code: AuthorizationCode | null;
}

/** A refresh_token request (OAuth 2.1 §4.3) with the token row and grant it names, null when none. */
export interface RefreshRequest {
  client: OAuthClient;
  params: TokenParams;
  token: RefreshToken | null;
  grant: Grant | null;
}

/** The code was spent before: the caller revokes the grant its first exchange created, then answers with this. */
export class CodeReplayed extends InvalidGrant {
  constructor(readonly code: AuthorizationCode) {
    super('authorization code was already used');
  }
}

/** One check: throws the OAuthError the token endpoint answers with, or returns. */
export type TokenCheck<R> = (request: R, ctx: TokenCheckContext) => void;

/**
 * The checks of the authorization_code grant, in order: the first that fails answers. Adding a
 * check is adding an entry here (and a case to token.checks.spec.ts).
 */
export const AUTHORIZATION_CODE_CHECKS: TokenCheck<CodeRequest>[] = [
  function codeIsPresent({ params }) {
    requireString(params, 'code');
  },
  function codeIsKnownToThisClient({ client, code }) {
    if (!code || code.clientId !== client.clientId) throw new InvalidGrant('authorization code is invalid');
  },
  // OAuth 2.1 §4.1.3: a code is single-use; a second use revokes what the first one issued.
  function codeIsUnused({ code }) {
    if (code!.usedAt) throw new CodeReplayed(code!);
  },
  function codeIsUnexpired({ code }, { now }) {
    if (code!.expiresAt <= now) throw new InvalidGrant('authorization code has expired');
  },
  // OAuth 2.1 §4.1.3: required when the authorization request carried it. /authorize lets a client
  // with a single registered redirect URI omit it, so omission is accepted for exactly that URI.
  function redirectUriIsTheAuthorizationRequests({ client, params, code }) {
    if (params.redirect_uri === undefined) {
      if (client.redirectUris.length === 1 && client.redirectUris[0] === code!.redirectUri) return;
      throw new InvalidRequest('redirect_uri is required');
    }
    if (params.redirect_uri !== code!.redirectUri) throw new InvalidGrant('redirect_uri does not match the authorization request');
  },
  // RFC 7636 §4.1, §4.6: PKCE S256.
  function codeVerifierIsWellFormed({ params }) {
    const verifier = requireString(params, 'code_verifier');
    if (!PKCE_VALUE.test(verifier)) throw new InvalidRequest('code_verifier must be 43-128 unreserved characters');
  },
  function codeVerifierMatchesChallenge({ params, code }) {
    if (!verifyS256(params.code_verifier as string, code!.codeChallenge)) throw new InvalidGrant('code_verifier does not match the code_challenge');
  },
  function resourceIsTheGrants({ params, code }, ctx) {
    checkResource(params, code!.upstreamSlug, ctx);
  },
];

/** The checks of the refresh_token grant, in order. A rotated token passes: the grants store answers it (grace window or reuse). */
export const REFRESH_TOKEN_CHECKS: TokenCheck<RefreshRequest>[] = [
  function clientMayRefresh({ client }) {
    if (!client.grantTypes.includes('refresh_token')) throw new UnauthorizedClient('this client is not registered for the refresh_token grant');
  },
  function refreshTokenIsPresent({ params }) {
    requireString(params, 'refresh_token');
  },
  function refreshTokenIsKnownToThisClient({ client, token, grant }) {
    if (!token || !grant || grant.clientId !== client.clientId) throw new InvalidGrant('refresh token is invalid');
  },
  function grantIsLive({ grant }) {
    if (grant!.revokedAt) throw new InvalidGrant('refresh token has been revoked');
  },
  function refreshTokenIsUnexpired({ token }, { now }) {
    if (token!.expiresAt <= now) throw new InvalidGrant('refresh token has expired');
  },
  function resourceIsTheGrants({ params, grant }, ctx) {
    checkResource(params, grant!.upstreamSlug, ctx);
  },
  function scopeIsWithinTheGrant({ params, grant }) {
    narrowScope(params.scope, grant!.scope);
  },
];

/** Runs the checks in order; the first failure is thrown. */
export function runChecks<R>(checks: TokenCheck<R>[], request: R, ctx: TokenCheckContext): void {
  for (const check of checks) {
    try {
      check(request, ctx);
    } catch (err) {
      // The check's name goes into the token.refused audit row: the doctor's rules tell a PKCE
      // mismatch from a redirect mismatch by it, not by the wording of the description.
      if (err instanceof OAuthError) err.check ??= check.name;
      throw err;
    }
  }
}

/** RFC 6749 §6: a refresh may ask for fewer scopes, never more. Returns the scope of the new tokens. */
export function narrowScope(requested: unknown, granted: string): string {
  if (requested === undefined) return granted;
  if (typeof requested !== 'string') throw new InvalidScope('scope must be a string');
  if (!requested.trim()) return granted;
  const have = new Set(granted.split(' '));
  const want = requested.split(' ').filter(Boolean);
  const extra = want.filter((s) => !have.has(s));
  if (extra.length) throw new InvalidScope(`scope exceeds the original grant: ${extra.join(' ')}`);
  return want.join(' ');
}

/** RFC 8707 §2.2: a resource sent at the token endpoint must be the one the grant is bound to. */
function checkResource(params: TokenParams, upstreamSlug: string, ctx: TokenCheckContext): void {
  const resource = params.resource;
  if (resource === undefined) return;
  const target = typeof resource === 'string' ? ctx.upstreamSlugOf(resource) : undefined;
  if (target !== upstreamSlug) throw new InvalidTarget('resource does not match the resource this grant was issued for');
}

export function requireString(params: TokenParams, name: string): string {
  const value = params[name];
  if (typeof value !== 'string' || !value) throw new InvalidRequest(`${name} is required`);
  return value;
}
