import type { Upstream } from '../../upstreams/upstream';
import { AuthorizeContext, AuthorizeParams, effectiveScope, RedirectableError, UntrustedRedirect, validateAuthorization, ValidAuthorization } from './authorize.checks';
import { ClientMetadataError } from '../cimd/client-metadata.service';
import { OAuthClient } from '../client.entity';
import { InvalidRequest, InvalidScope, InvalidTarget, OAuthError, UnauthorizedClient, UnsupportedResponseType } from '../oauth.errors';

const GATEWAY = 'https://gateway.example';
/** RFC 7636 Appendix B. */
const CHALLENGE = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';
const REDIRECT = 'https://app.example/callback';

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

function makeUpstream(slug: string, scopes: string[]): Upstream {
  return {
    slug,
    name: slug,
    url: `http://127.0.0.1:9/${slug}`,
    transport: 'http',
    process: null,
    enabled: true,
    timeoutMs: 30_000,
    scopes,
    authMode: 'none',
    headerNames: [],
    headerTemplates: {},
    credentialFields: [],
    oauth: null,
    allow: { users: [], emails: [], emailDomains: [], groups: [] },
    resource: `${GATEWAY}/mcp/${slug}`,
    source: 'config',
    guarded: false,
  };
}

const notes = makeUpstream('notes', ['mcp:read', 'mcp:tools']);
const files = makeUpstream('files', ['files:read']);

/** An in-memory AuthorizeContext: the clients and upstreams it knows, and the upstream hinted per client. */
function makeContext(
  opts: { clients?: OAuthClient[]; upstreams?: Upstream[]; hints?: Record<string, Upstream>; findClient?: AuthorizeContext['findClient'] } = {},
): AuthorizeContext {
  const clients = opts.clients ?? [makeClient()];
  const upstreams = opts.upstreams ?? [notes, files];
  return {
    findClient: opts.findClient ?? ((id) => Promise.resolve(clients.find((c) => c.clientId === id) ?? null)),
    upstreamByResource: (resource) => upstreams.find((u) => u.resource === resource),
    upstreams: () => upstreams,
    hintedUpstream: (clientId) => opts.hints?.[clientId],
  };
}

/** A request that passes every check. */
function validParams(overrides: AuthorizeParams = {}): AuthorizeParams {
  const params: AuthorizeParams = {
    response_type: 'code',
    client_id: 'client-1',
    redirect_uri: REDIRECT,
    code_challenge: CHALLENGE,
    code_challenge_method: 'S256',
    state: 'state-123',
    resource: notes.resource,
    scope: 'mcp:read',
    ...overrides,
  };
  for (const [k, v] of Object.entries(params)) if (v === undefined) delete params[k];
  return params;
}

/** The error validateAuthorization rejects with (fails the test when it resolves). */
async function rejection(params: AuthorizeParams, ctx = makeContext()): Promise<unknown> {
  let result: ValidAuthorization;
  try {
    result = await validateAuthorization(params, ctx);
  } catch (err) {
    return err;
  }
  throw new Error(`expected a rejection, got ${JSON.stringify(result)}`);
}

/** Asserts an error shown as a page (never redirected) with this description. */
async function expectUntrusted(params: AuthorizeParams, description: string | RegExp, ctx?: AuthorizeContext): Promise<void> {
  const err = await rejection(params, ctx);
  expect(err).toBeInstanceOf(UntrustedRedirect);
  expect((err as UntrustedRedirect).description).toMatch(description);
}

/** Asserts an error redirected to the client, as the given OAuthError class with this wire code. */
async function expectRedirected(
  params: AuthorizeParams,
  type: new (description: string) => OAuthError,
  code: string,
  description: string | RegExp,
  ctx?: AuthorizeContext,
): Promise<RedirectableError> {
  const err = await rejection(params, ctx);
  expect(err).toBeInstanceOf(RedirectableError);
  const redirectable = err as RedirectableError;
  expect(redirectable.oauth).toBeInstanceOf(type);
  expect(redirectable.oauth.error).toBe(code);
  expect(redirectable.oauth.status).toBe(400);
  expect(redirectable.oauth.description).toMatch(description);
  return redirectable;
}

describe('validateAuthorization', () => {
  it('accepts a complete request and returns what the later steps need', async () => {
    const ok = await validateAuthorization(validParams(), makeContext());
    expect(ok).toEqual({ client: makeClient(), redirectUri: REDIRECT, state: 'state-123', codeChallenge: CHALLENGE, upstream: notes, requestedScopes: ['mcp:read'] });
  });

  describe('client (checked first, shown as a page)', () => {
    it('refuses a missing or non-string client_id', async () => {
      await expectUntrusted(validParams({ client_id: undefined }), 'The request has no client_id.');
      await expectUntrusted(validParams({ client_id: '' }), 'The request has no client_id.');
      await expectUntrusted(validParams({ client_id: ['client-1', 'client-1'] }), 'The request has no client_id.');
    });

    it('refuses an unknown client, before looking at anything else', async () => {
      await expectUntrusted(validParams({ client_id: 'nobody', redirect_uri: 'https://evil.example/', response_type: 'token' }), /unknown client_id/);
    });

    it("shows a client metadata document's problem as the page's message", async () => {
      const ctx = makeContext({ findClient: () => Promise.reject(new ClientMetadataError('The client metadata document could not be fetched.')) });
      await expectUntrusted(validParams({ client_id: 'https://app.example/client.json' }), 'The client metadata document could not be fetched.', ctx);
    });

    it('lets any other lookup failure through unchanged', async () => {
      const boom = new Error('database is locked');
      const ctx = makeContext({ findClient: () => Promise.reject(boom) });
      expect(await rejection(validParams(), ctx)).toBe(boom);
    });
  });

  describe('redirect_uri (shown as a page until it matches a registered one)', () => {
    it('may be omitted when the client registered exactly one', async () => {
      const ok = await validateAuthorization(validParams({ redirect_uri: undefined }), makeContext());
      expect(ok.redirectUri).toBe(REDIRECT);
    });

    it('must be given when the client registered several', async () => {
      const ctx = makeContext({ clients: [makeClient({ redirectUris: [REDIRECT, 'https://app.example/other'] })] });
      await expectUntrusted(validParams({ redirect_uri: undefined }), 'The request has no redirect_uri.', ctx);
      expect((await validateAuthorization(validParams({ redirect_uri: 'https://app.example/other' }), ctx)).redirectUri).toBe('https://app.example/other');
    });

    it('refuses an empty, repeated or unregistered redirect_uri without redirecting to it', async () => {
      await expectUntrusted(validParams({ redirect_uri: '' }), 'The request has no redirect_uri.');
      await expectUntrusted(validParams({ redirect_uri: [REDIRECT, REDIRECT] }), 'The request has no redirect_uri.');
      await expectUntrusted(validParams({ redirect_uri: 'https://evil.example/callback' }), 'The redirect_uri is not one this application registered.');
      await expectUntrusted(validParams({ redirect_uri: `${REDIRECT}/more` }), 'The redirect_uri is not one this application registered.');
    });

    it('matches an http loopback redirect URI on any port (RFC 8252 §7.3) and returns the one requested', async () => {
      const ctx = makeContext({ clients: [makeClient({ redirectUris: ['http://127.0.0.1:8000/callback'] })] });
      const ok = await validateAuthorization(validParams({ redirect_uri: 'http://127.0.0.1:49152/callback' }), ctx);
      expect(ok.redirectUri).toBe('http://127.0.0.1:49152/callback');
      await expectUntrusted(validParams({ redirect_uri: 'http://127.0.0.1:49152/other' }), /not one this application registered/, ctx);
    });
  });

  describe('after the redirect URI is trusted, errors go back to it', () => {
    it('with the request state', async () => {
      const err = await expectRedirected(validParams({ response_type: 'token' }), UnsupportedResponseType, 'unsupported_response_type', /response_type=code/);
      expect(err.redirectUri).toBe(REDIRECT);
      expect(err.state).toBe('state-123');
    });

    it('with a null state when the request had none, or an empty or non-string one', async () => {
      for (const state of [undefined, '', ['a', 'b']]) {
        const params = validParams({ state, response_type: 'token' });
        // A repeated state is itself the error reported.
        const err = await rejection(params);
        expect(err).toBeInstanceOf(RedirectableError);
        expect((err as RedirectableError).state).toBeNull();
      }
    });
  });

  describe('single-valued parameters (RFC 6749 §3.1)', () => {
    it('refuses a repeated parameter as invalid_request', async () => {
      await expectRedirected(validParams({ scope: ['mcp:read', 'mcp:tools'] }), InvalidRequest, 'invalid_request', 'parameter scope is repeated');
      await expectRedirected(validParams({ code_challenge: [CHALLENGE, CHALLENGE] }), InvalidRequest, 'invalid_request', 'parameter code_challenge is repeated');
    });

    it('refuses a repeated resource as invalid_target (one resource per grant)', async () => {
      await expectRedirected(validParams({ resource: [notes.resource, files.resource] }), InvalidTarget, 'invalid_target', 'only one resource may be requested');
    });

    it('comes before the response_type check', async () => {
      await expectRedirected(validParams({ scope: ['a', 'b'], response_type: 'token' }), InvalidRequest, 'invalid_request', 'parameter scope is repeated');
    });
  });

  describe('response_type', () => {
    it('is required', async () => {
      await expectRedirected(validParams({ response_type: undefined }), InvalidRequest, 'invalid_request', 'response_type is required');
    });

    it('must be code', async () => {
      await expectRedirected(validParams({ response_type: 'token' }), UnsupportedResponseType, 'unsupported_response_type', 'only response_type=code is supported');
      await expectRedirected(validParams({ response_type: 'code id_token' }), UnsupportedResponseType, 'unsupported_response_type', 'only response_type=code is supported');
    });

    it('must be one the client registered', async () => {
      const ctx = makeContext({ clients: [makeClient({ responseTypes: [] })] });
      await expectRedirected(validParams(), UnauthorizedClient, 'unauthorized_client', 'client is not registered for response_type=code', ctx);
    });
  });

  describe('PKCE (RFC 7636, S256 only)', () => {
    it('needs a code_challenge', async () => {
      await expectRedirected(validParams({ code_challenge: undefined }), InvalidRequest, 'invalid_request', 'code_challenge is required (PKCE)');
      await expectRedirected(validParams({ code_challenge: '' }), InvalidRequest, 'invalid_request', 'code_challenge is required (PKCE)');
    });

    it('needs code_challenge_method S256 (plain and a missing method are refused)', async () => {
      await expectRedirected(validParams({ code_challenge_method: undefined }), InvalidRequest, 'invalid_request', 'code_challenge_method must be S256');
      await expectRedirected(validParams({ code_challenge_method: 'plain' }), InvalidRequest, 'invalid_request', 'code_challenge_method must be S256');
      await expectRedirected(validParams({ code_challenge_method: 's256' }), InvalidRequest, 'invalid_request', 'code_challenge_method must be S256');
    });

    it('needs 43 to 128 unreserved characters (RFC 7636 §4.2)', async () => {
      for (const ok of ['a'.repeat(43), 'A-._~'.repeat(25) + 'xyz']) {
        expect((await validateAuthorization(validParams({ code_challenge: ok }), makeContext())).codeChallenge).toBe(ok);
      }
      for (const bad of ['a'.repeat(42), 'a'.repeat(129), `${'a'.repeat(42)}+`, `${'a'.repeat(42)}=`]) {
        await expectRedirected(validParams({ code_challenge: bad }), InvalidRequest, 'invalid_request', 'code_challenge is malformed');
      }
    });
  });

  describe('resource (RFC 8707)', () => {
    it('must name an upstream behind this gateway', async () => {
      await expectRedirected(validParams({ resource: `${GATEWAY}/mcp/unknown` }), InvalidTarget, 'invalid_target', 'resource is not an MCP server behind this gateway');
      await expectRedirected(validParams({ resource: 'https://elsewhere.example/mcp/notes' }), InvalidTarget, 'invalid_target', /not an MCP server/);
      await expectRedirected(validParams({ resource: 42 }), InvalidTarget, 'invalid_target', /not an MCP server/);
    });

    it('selects the upstream it names', async () => {
      expect((await validateAuthorization(validParams({ resource: files.resource, scope: undefined }), makeContext())).upstream).toBe(files);
    });

    it('when omitted (or empty): the only upstream, else the one hinted for the client, else none (the user picks)', async () => {
      const omitted = validParams({ resource: undefined, scope: undefined });
      expect((await validateAuthorization(omitted, makeContext({ upstreams: [files] }))).upstream).toBe(files);
      expect((await validateAuthorization({ ...omitted, resource: '' }, makeContext({ upstreams: [files] }))).upstream).toBe(files);
      expect((await validateAuthorization(omitted, makeContext({ hints: { 'client-1': files } }))).upstream).toBe(files);
      expect((await validateAuthorization(omitted, makeContext({ hints: { 'other-client': files } }))).upstream).toBeNull();
      expect((await validateAuthorization(omitted, makeContext())).upstream).toBeNull();
    });

    it('when omitted and the gateway has no upstream at all: invalid_target', async () => {
      await expectRedirected(validParams({ resource: undefined }), InvalidTarget, 'invalid_target', 'this gateway has no upstream MCP servers', makeContext({ upstreams: [] }));
    });
  });

  describe('scope', () => {
    it('must be a string', async () => {
      await expectRedirected(validParams({ scope: 7 }), InvalidScope, 'invalid_scope', 'scope must be a string');
    });

    it('is split on spaces; empty means every scope of the upstream', async () => {
      expect((await validateAuthorization(validParams({ scope: 'mcp:read  mcp:tools' }), makeContext())).requestedScopes).toEqual(['mcp:read', 'mcp:tools']);
      expect((await validateAuthorization(validParams({ scope: '' }), makeContext())).requestedScopes).toEqual([]);
      expect((await validateAuthorization(validParams({ scope: undefined }), makeContext())).requestedScopes).toEqual([]);
    });

    it('accepts and drops offline_access (refresh tokens come without it)', async () => {
      expect((await validateAuthorization(validParams({ scope: 'offline_access mcp:tools' }), makeContext())).requestedScopes).toEqual(['mcp:tools']);
    });

    it('refuses scopes the named upstream does not offer, naming them', async () => {
      await expectRedirected(validParams({ scope: 'mcp:read files:read admin' }), InvalidScope, 'invalid_scope', 'unknown scope: files:read admin');
    });

    it('without a chosen upstream, accepts any scope some upstream offers', async () => {
      const omitted = validParams({ resource: undefined });
      expect((await validateAuthorization({ ...omitted, scope: 'files:read mcp:tools' }, makeContext())).requestedScopes).toEqual(['files:read', 'mcp:tools']);
      await expectRedirected({ ...omitted, scope: 'files:write' }, InvalidScope, 'invalid_scope', 'unknown scope: files:write');
    });
  });
});

describe('effectiveScope', () => {
  it('is every scope of the upstream when none was requested', () => {
    expect(effectiveScope([], notes)).toBe('mcp:read mcp:tools');
  });

  it('is the requested scopes when the upstream offers them all', () => {
    expect(effectiveScope(['mcp:tools'], notes)).toBe('mcp:tools');
    expect(effectiveScope(['mcp:tools', 'mcp:read'], notes)).toBe('mcp:tools mcp:read');
  });

  it('is null when the upstream lacks one of them (scopes requested before the user picked another upstream)', () => {
    expect(effectiveScope(['files:read'], notes)).toBeNull();
    expect(effectiveScope(['mcp:read', 'files:read'], notes)).toBeNull();
  });
});
