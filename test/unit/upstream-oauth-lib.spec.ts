/**
 * The upstream OAuth client on oauth4webapi: what the library checks (RFC 9207 iss, RFC 9728 resource),
 * and the answers the gateway has always taken that the library alone would read differently.
 * Real servers on loopback; every request goes through the SSRF guard.
 */
import http from 'node:http';
import { AddressInfo } from 'node:net';
import { Upstream } from '../../server/src/upstreams/upstream';
import { AuthServer, AuthServerDiscovery } from '../../server/src/upstreams/upstream-oauth/auth-server-discovery';
import { UpstreamClientRegistration } from '../../server/src/upstreams/upstream-oauth/upstream-client';
import { GrantRejected, UpstreamAuthUnavailableError } from '../../server/src/upstreams/upstream-oauth/upstream-oauth.errors';
import { requestTokens } from '../../server/src/upstreams/upstream-oauth/upstream-token-endpoint';
import { RunningOAuthUpstream, startOAuthUpstream } from '../fixtures/upstream-oauth-server';

const REDIRECT_URI = 'http://127.0.0.1:1/oauth/upstream/callback';
const PUBLIC_CLIENT: UpstreamClientRegistration = { clientId: 'lib-client', clientSecret: null, authMethod: 'none', registered: false };

function upstreamFor(url: string, oauth: Partial<NonNullable<Upstream['oauth']>> = {}): Upstream {
  return {
    slug: 'lib',
    name: 'Upstream lib',
    url,
    transport: 'http',
    process: null,
    enabled: true,
    timeoutMs: 30_000,
    scopes: [],
    authMode: 'oauth',
    headerNames: [],
    headerTemplates: {},
    credentialFields: [],
    oauth: { clientId: null, hasClientSecret: false, issuer: null, authorizationEndpoint: null, tokenEndpoint: null, registrationEndpoint: null, scopes: [], ...oauth },
    allow: { users: [], emails: [], emailDomains: [], groups: [] },
    resource: 'http://gateway.invalid/mcp/lib',
    source: 'config',
    guarded: false,
  };
}

/** A loopback HTTP server; `origin` is known once it listens. */
async function serve(handler: (req: http.IncomingMessage, res: http.ServerResponse, origin: string) => void) {
  let origin = '';
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    handler(req, res, origin);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { origin, requests, close: () => new Promise<void>((r) => server.close(() => r())) };
}

const json = (res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) =>
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));

describe('authorization response: RFC 9207 iss', () => {
  let fixture: RunningOAuthUpstream;
  let upstream: Upstream;
  let server: AuthServer;
  const exchange = (s: AuthServer, iss: string | null) =>
    requestTokens(
      upstream,
      s,
      PUBLIC_CLIENT,
      { grant_type: 'authorization_code', response: { state: 'st', code: 'not-a-code', iss }, redirect_uri: REDIRECT_URI, code_verifier: 'v'.repeat(43) },
      null,
    );

  beforeAll(async () => {
    fixture = await startOAuthUpstream({ clients: [{ clientId: PUBLIC_CLIENT.clientId, redirectUris: [REDIRECT_URI] }] });
    upstream = upstreamFor(fixture.url);
    server = await new AuthServerDiscovery().authServer(upstream);
  });
  afterAll(() => fixture.close());

  it('refuses an iss that is not the issuer, before any token request', async () => {
    const before = fixture.tokenRequests.length;
    await expect(exchange(server, 'http://127.0.0.1:1')).rejects.toThrow(/"iss"/);
    expect(fixture.tokenRequests.length).toBe(before);
  });

  it('requires iss when the metadata says the AS sends it', async () => {
    const advertising = { ...server, metadata: { ...server.metadata, authorization_response_iss_parameter_supported: true } };
    await expect(exchange(advertising, null)).rejects.toThrow(/"iss"/);
  });

  it('sends the code on when iss is the issuer, or absent and not advertised', async () => {
    for (const iss of [fixture.issuer, null]) {
      const err = await exchange(server, iss).catch((e) => e);
      expect(err).toBeInstanceOf(GrantRejected); // the fixture does not know the code: the request was made
      expect(err.error).toBe('invalid_grant');
    }
  });

  it('does not check iss when only endpoints are configured (the issuer is unknown)', async () => {
    const configured = upstreamFor(fixture.url, { authorizationEndpoint: `${fixture.issuer}/authorize`, tokenEndpoint: `${fixture.issuer}/token` });
    const endpointsOnly = await new AuthServerDiscovery().authServer(configured);
    expect(endpointsOnly.issuerKnown).toBe(false);
    const err = await exchange(endpointsOnly, 'http://127.0.0.1:1').catch((e) => e);
    expect(err).toBeInstanceOf(GrantRejected);
    expect(err.error).toBe('invalid_grant');
  });
});

describe('RFC 9728: the resource a protected-resource document names', () => {
  let fixture: RunningOAuthUpstream;
  beforeAll(async () => {
    fixture = await startOAuthUpstream();
  });
  afterAll(() => fixture.close());

  /** An upstream serving only a root document that names `resource(origin)`; the fixture is its AS (trusted through its configured registration endpoint). */
  async function discoverWithRootDocument(resource: (origin: string) => string) {
    const prm = await serve((req, res, origin) => {
      if (req.url === '/.well-known/oauth-protected-resource') return json(res, 200, { resource: resource(origin), authorization_servers: [fixture.issuer] });
      json(res, 404, { error: 'not_found' });
    });
    try {
      const up = upstreamFor(`${prm.origin}/mcp`, { registrationEndpoint: `${fixture.issuer}/register` });
      return { origin: prm.origin, result: await new AuthServerDiscovery().authServer(up).catch((e: Error) => e) };
    } finally {
      await prm.close();
    }
  }

  it('takes a root document naming the origin (RFC 9728 §3.3) and requests tokens for that resource', async () => {
    const { origin, result } = await discoverWithRootDocument((o) => o);
    expect(result).toMatchObject({ resource: origin, metadata: { token_endpoint: `${fixture.issuer}/token` } });
  });

  it('takes a root document naming the MCP endpoint, as MCP servers do', async () => {
    const { origin, result } = await discoverWithRootDocument((o) => `${o}/mcp`);
    expect(result).toMatchObject({ resource: `${origin}/mcp` });
  });

  it('skips a document naming another resource, and says so', async () => {
    const { result } = await discoverWithRootDocument(() => 'http://other.example/mcp');
    expect(result).toBeInstanceOf(Error);
    expect((result as Error).message).toMatch(/could not discover the authorization server.*"resource" property does not match/);
  });
});

describe('token endpoint answers', () => {
  let answer: (res: http.ServerResponse) => void;
  let endpoint: Awaited<ReturnType<typeof serve>>;
  const refresh = () => {
    const up = upstreamFor('http://127.0.0.1:9/mcp', { tokenEndpoint: `${endpoint.origin}/token` });
    const server: AuthServer = { metadata: { issuer: endpoint.origin, token_endpoint: `${endpoint.origin}/token` }, issuerKnown: true, resource: up.url };
    return requestTokens(up, server, PUBLIC_CLIENT, { grant_type: 'refresh_token', refresh_token: 'rt' }, { access_token: 'old', refresh_token: 'rt', expires_at: 0, scope: 'a' });
  };
  beforeAll(async () => {
    endpoint = await serve((_req, res) => answer(res));
  });
  afterAll(() => endpoint.close());

  it.each([
    ['a 401 invalid_client with a WWW-Authenticate challenge (RFC 6749 §5.2)', 401, { 'www-authenticate': 'Basic realm="as"' }, 'invalid_client'],
    ['an OAuth error sent as text/plain', 400, { 'content-type': 'text/plain' }, 'invalid_grant'],
  ])('reads %s as a refusal', async (_what, status, headers, error) => {
    answer = (res) => json(res, status, { error, error_description: 'no' }, headers);
    const err = await refresh().catch((e) => e);
    expect(err).toBeInstanceOf(GrantRejected);
    expect(err.error).toBe(error);
  });

  it('reads a 503 as unavailable, not as a refusal', async () => {
    answer = (res) => res.writeHead(503, { 'content-type': 'text/plain' }).end('down');
    const err = await refresh().catch((e) => e);
    expect(err).toBeInstanceOf(UpstreamAuthUnavailableError);
    expect(err.message).toContain('HTTP 503');
  });

  it('refuses a token that is not a bearer token', async () => {
    answer = (res) => json(res, 200, { access_token: 'at', token_type: 'DPoP' });
    const err = await refresh().catch((e) => e);
    expect(err).toBeInstanceOf(GrantRejected);
    expect(err.error).toBe('unsupported_token_type');
  });

  it('keeps the refresh token and scope the AS did not repeat (RFC 6749 §6)', async () => {
    answer = (res) => json(res, 200, { access_token: 'new', token_type: 'Bearer', expires_in: 60 });
    expect(await refresh()).toMatchObject({ access_token: 'new', refresh_token: 'rt', scope: 'a', expires_at: expect.any(Number) });
  });

  it('caps the answer size through the SSRF guard', async () => {
    answer = (res) => json(res, 200, { access_token: 'x'.repeat(2_000_000), token_type: 'Bearer' });
    const err = await refresh().catch((e) => e);
    expect(err).toBeInstanceOf(UpstreamAuthUnavailableError);
    expect(err.message).toMatch(/exceeds 1048576 bytes/);
  });
});
