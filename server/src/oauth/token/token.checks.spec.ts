import { AuthorizationCode } from '../authorization-code.entity';
import { OAuthClient } from '../client.entity';
import { Grant } from '../grant.entity';
import { InvalidGrant, InvalidRequest, InvalidScope, InvalidTarget, OAuthError, UnauthorizedClient } from '../oauth.errors';
import { RefreshToken } from '../refresh-token.entity';
import { AUTHORIZATION_CODE_CHECKS, CodeReplayed, CodeRequest, narrowScope, REFRESH_TOKEN_CHECKS, RefreshRequest, runChecks, TokenCheck, TokenCheckContext } from './token.checks';

/** RFC 7636 Appendix B. */
const VERIFIER = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';
const CHALLENGE = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';
const REDIRECT = 'https://app.example/callback';
const NOW = 1_800_000_000_000;
const NOTES = 'https://gateway.example/mcp/notes';
const FILES = 'https://gateway.example/mcp/files';

const ctx: TokenCheckContext = {
  now: NOW,
  upstreamSlugOf: (resource) => ({ [NOTES]: 'notes', [FILES]: 'files' })[resource],
};

function makeClient(overrides: Partial<OAuthClient> = {}): OAuthClient {
  return {
    clientId: 'client-1',
    clientSecretHash: null,
    clientName: 'Test app',
    redirectUris: [REDIRECT],
    tokenEndpointAuthMethod: 'none',
    grantTypes: ['authorization_code', 'refresh_token'],
    responseTypes: ['code'],
    scope: null,
    extraMetadata: {},
    createdAt: 0,
    lastUsedAt: null,
    registrationSource: null,
    ...overrides,
  };
}

function makeCode(overrides: Partial<AuthorizationCode> = {}): AuthorizationCode {
  return {
    codeHash: 'hash',
    clientId: 'client-1',
    userId: 'user-1',
    upstreamSlug: 'notes',
    redirectUri: REDIRECT,
    codeChallenge: CHALLENGE,
    scope: 'mcp:read mcp:tools',
    expiresAt: NOW + 60_000,
    usedAt: null,
    grantId: null,
    ...overrides,
  };
}

function makeGrant(overrides: Partial<Grant> = {}): Grant {
  return {
    id: 'grant-1',
    userId: 'user-1',
    clientId: 'client-1',
    upstreamSlug: 'notes',
    scope: 'mcp:read mcp:tools',
    createdAt: NOW - 1000,
    lastUsedAt: null,
    revokedAt: null,
    revokedReason: null,
    ...overrides,
  };
}

function makeRefreshToken(overrides: Partial<RefreshToken> = {}): RefreshToken {
  return { tokenHash: 'hash', grantId: 'grant-1', createdAt: NOW - 1000, expiresAt: NOW + 60_000, rotatedAt: null, rotationNonce: null, ...overrides };
}

const codeParams = { grant_type: 'authorization_code', code: 'the-code', code_verifier: VERIFIER, redirect_uri: REDIRECT };

function codeRequest(overrides: Partial<CodeRequest> = {}): CodeRequest {
  return { client: makeClient(), params: { ...codeParams }, code: makeCode(), ...overrides };
}

function refreshRequest(overrides: Partial<RefreshRequest> = {}): RefreshRequest {
  return { client: makeClient(), params: { grant_type: 'refresh_token', refresh_token: 'the-token' }, token: makeRefreshToken(), grant: makeGrant(), ...overrides };
}

/** The error the checks answer with, or null when all pass. */
function failureOf<R>(checks: TokenCheck<R>[], request: R): OAuthError | null {
  try {
    runChecks(checks, request, ctx);
    return null;
  } catch (err) {
    if (err instanceof OAuthError) return err;
    throw err;
  }
}

describe('token.checks: authorization_code (OAuth 2.1 §4.1.3)', () => {
  const fail = (request: CodeRequest) => failureOf(AUTHORIZATION_CODE_CHECKS, request);

  it('passes a request matching its code', () => {
    expect(fail(codeRequest())).toBeNull();
    expect(fail(codeRequest({ params: { ...codeParams, resource: NOTES } }))).toBeNull();
  });

  it.each([
    ['no code', { params: { ...codeParams, code: undefined } }, InvalidRequest, 'code is required'],
    ['an empty code', { params: { ...codeParams, code: '' } }, InvalidRequest, 'code is required'],
    ['an unknown code', { code: null }, InvalidGrant, 'authorization code is invalid'],
    ["another client's code", { code: makeCode({ clientId: 'client-2' }) }, InvalidGrant, 'authorization code is invalid'],
    ['an expired code', { code: makeCode({ expiresAt: NOW }) }, InvalidGrant, 'authorization code has expired'],
    [
      'no redirect_uri',
      { params: { ...codeParams, redirect_uri: undefined }, client: makeClient({ redirectUris: [REDIRECT, 'https://app.example/other'] }) },
      InvalidRequest,
      'redirect_uri is required',
    ],
    ['another redirect_uri', { params: { ...codeParams, redirect_uri: 'https://app.example/other' } }, InvalidGrant, 'redirect_uri does not match the authorization request'],
    ['no code_verifier', { params: { ...codeParams, code_verifier: undefined } }, InvalidRequest, 'code_verifier is required'],
    ['a malformed code_verifier', { params: { ...codeParams, code_verifier: 'short' } }, InvalidRequest, 'code_verifier must be 43-128 unreserved characters'],
    ['a wrong code_verifier', { params: { ...codeParams, code_verifier: VERIFIER.replace('d', 'e') } }, InvalidGrant, 'code_verifier does not match the code_challenge'],
    ["another upstream's resource", { params: { ...codeParams, resource: FILES } }, InvalidTarget, 'resource does not match the resource this grant was issued for'],
    [
      'an unknown resource',
      { params: { ...codeParams, resource: 'https://elsewhere.example/mcp' } },
      InvalidTarget,
      'resource does not match the resource this grant was issued for',
    ],
    ['a resource that is not a string', { params: { ...codeParams, resource: [NOTES] } }, InvalidTarget, 'resource does not match the resource this grant was issued for'],
  ] as const)('refuses %s', (_name, overrides, type, description) => {
    const err = fail(codeRequest(overrides));
    expect(err).toBeInstanceOf(type);
    expect(err!.description).toBe(description);
  });

  it('a client with one registered redirect URI may omit redirect_uri, for exactly that URI', () => {
    expect(fail(codeRequest({ params: { ...codeParams, redirect_uri: undefined } }))).toBeNull();
    const other = makeCode({ redirectUri: 'https://app.example/registered-before' });
    expect(fail(codeRequest({ params: { ...codeParams, redirect_uri: undefined }, code: other }))!.description).toBe('redirect_uri is required');
  });

  it('a spent code is a replay, carrying the code so its grant can be revoked', () => {
    const spent = makeCode({ usedAt: NOW - 10, grantId: 'grant-1' });
    const err = fail(codeRequest({ code: spent }));
    expect(err).toBeInstanceOf(CodeReplayed);
    expect(err).toBeInstanceOf(InvalidGrant);
    expect((err as CodeReplayed).code).toBe(spent);
    expect(err!.toJSON()).toEqual({ error: 'invalid_grant', error_description: 'authorization code was already used' });
  });

  it('checks in order: the first failing check answers', () => {
    // Spent AND expired AND a wrong verifier: the replay wins, so the grant is revoked.
    const everythingWrong = codeRequest({ code: makeCode({ usedAt: NOW - 10, expiresAt: NOW - 5 }), params: { ...codeParams, code_verifier: 'short' } });
    expect(fail(everythingWrong)).toBeInstanceOf(CodeReplayed);
    // Another client's spent code is only "invalid": a client cannot revoke another's grant.
    expect(fail(codeRequest({ code: makeCode({ clientId: 'client-2', usedAt: NOW - 10 }) }))!.description).toBe('authorization code is invalid');
    expect(AUTHORIZATION_CODE_CHECKS.map((c) => c.name)).toEqual([
      'codeIsPresent',
      'codeIsKnownToThisClient',
      'codeIsUnused',
      'codeIsUnexpired',
      'redirectUriIsTheAuthorizationRequests',
      'codeVerifierIsWellFormed',
      'codeVerifierMatchesChallenge',
      'resourceIsTheGrants',
    ]);
  });
});

describe('token.checks: refresh_token (OAuth 2.1 §4.3)', () => {
  const fail = (request: RefreshRequest) => failureOf(REFRESH_TOKEN_CHECKS, request);

  it('passes a live refresh token of this client; a rotated one passes too (the store answers it)', () => {
    expect(fail(refreshRequest())).toBeNull();
    expect(fail(refreshRequest({ token: makeRefreshToken({ rotatedAt: NOW - 10 }) }))).toBeNull();
  });

  it.each([
    [
      'a client not registered for refresh_token',
      { client: makeClient({ grantTypes: ['authorization_code'] }) },
      UnauthorizedClient,
      'this client is not registered for the refresh_token grant',
    ],
    ['no refresh_token', { params: { grant_type: 'refresh_token' } }, InvalidRequest, 'refresh_token is required'],
    ['an unknown refresh token', { token: null, grant: null }, InvalidGrant, 'refresh token is invalid'],
    ['a token whose grant is gone', { grant: null }, InvalidGrant, 'refresh token is invalid'],
    ["another client's token", { grant: makeGrant({ clientId: 'client-2' }) }, InvalidGrant, 'refresh token is invalid'],
    ['a token of a revoked grant', { grant: makeGrant({ revokedAt: NOW - 5 }) }, InvalidGrant, 'refresh token has been revoked'],
    ['an expired token', { token: makeRefreshToken({ expiresAt: NOW }) }, InvalidGrant, 'refresh token has expired'],
    [
      "another upstream's resource",
      { params: { grant_type: 'refresh_token', refresh_token: 'x', resource: FILES } },
      InvalidTarget,
      'resource does not match the resource this grant was issued for',
    ],
    ['a wider scope', { params: { grant_type: 'refresh_token', refresh_token: 'x', scope: 'mcp:read mcp:admin' } }, InvalidScope, 'scope exceeds the original grant: mcp:admin'],
    ['a scope that is not a string', { params: { grant_type: 'refresh_token', refresh_token: 'x', scope: 5 } }, InvalidScope, 'scope must be a string'],
  ] as const)('refuses %s', (_name, overrides, type, description) => {
    const err = fail(refreshRequest(overrides));
    expect(err).toBeInstanceOf(type);
    expect(err!.description).toBe(description);
  });

  it('checks in order', () => {
    // Revoked and expired: "revoked" is said first.
    expect(fail(refreshRequest({ grant: makeGrant({ revokedAt: 1 }), token: makeRefreshToken({ expiresAt: 1 }) }))!.description).toBe('refresh token has been revoked');
    expect(REFRESH_TOKEN_CHECKS.map((c) => c.name)).toEqual([
      'clientMayRefresh',
      'refreshTokenIsPresent',
      'refreshTokenIsKnownToThisClient',
      'grantIsLive',
      'refreshTokenIsUnexpired',
      'resourceIsTheGrants',
      'scopeIsWithinTheGrant',
    ]);
  });
});

describe('narrowScope (RFC 6749 §6)', () => {
  it('keeps the grant scope when none or a blank one is asked, narrows to a subset', () => {
    expect(narrowScope(undefined, 'a b')).toBe('a b');
    expect(narrowScope('  ', 'a b')).toBe('a b');
    expect(narrowScope('b', 'a b')).toBe('b');
    expect(narrowScope(' a  b ', 'a b')).toBe('a b');
  });
});
