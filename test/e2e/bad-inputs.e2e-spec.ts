import http from 'node:http';
import { AddressInfo } from 'node:net';
import { startUpstream, RunningUpstream } from '../fixtures/upstream-mcp-server';
import { TestBrowser } from '../helpers/browser';
import { ADMIN, startTestGateway, TestGateway } from '../helpers/gateway';
import { authorizeInBrowser } from '../helpers/oauth-client';
import { authorizeUrl, call, mcpPost, obtainCode, pkce, register, registerPublicClient, tokenRequest } from '../helpers/raw-oauth';

const REDIRECT = 'http://127.0.0.1:7777/cb';

describe('bad inputs get their exact spec error, never a 500', () => {
  let upA: RunningUpstream;
  let upB: RunningUpstream;
  let gw: TestGateway;
  let base: string;
  let client: { client_id: string };

  beforeAll(async () => {
    upA = await startUpstream();
    upB = await startUpstream();
    gw = await startTestGateway({
      config: {
        upstreams: [
          { slug: 'a', url: upA.url },
          { slug: 'b', url: upB.url },
        ],
      },
    });
    base = gw.config.publicUrl;
    client = await registerPublicClient(base, REDIRECT);
  });
  afterAll(async () => {
    await gw.close();
    await upA.close();
    await upB.close();
    gw.cleanup();
  });

  describe('registration (RFC 7591 §3.2.2)', () => {
    const cases: Array<[string, unknown, string]> = [
      ['malformed JSON', '{"redirect_uris": [', 'invalid_client_metadata'],
      ['a JSON array', [], 'invalid_client_metadata'],
      ['no redirect_uris', { client_name: 'x' }, 'invalid_redirect_uri'],
      ['an http redirect to a public host', { redirect_uris: ['http://evil.example/cb'] }, 'invalid_redirect_uri'],
      ['a redirect with a fragment', { redirect_uris: ['https://app.example/cb#x'] }, 'invalid_redirect_uri'],
      ['a relative redirect', { redirect_uris: ['/cb'] }, 'invalid_redirect_uri'],
      ['an unknown auth method', { redirect_uris: [REDIRECT], token_endpoint_auth_method: 'private_key_jwt' }, 'invalid_client_metadata'],
      ['an implicit grant', { redirect_uris: [REDIRECT], grant_types: ['implicit'] }, 'invalid_client_metadata'],
      ['a token response type', { redirect_uris: [REDIRECT], response_types: ['token'] }, 'invalid_client_metadata'],
      ['a non-string client_name', { redirect_uris: [REDIRECT], client_name: 42 }, 'invalid_client_metadata'],
      ['an oversized body', { redirect_uris: [REDIRECT], client_name: 'x'.repeat(70_000) }, 'invalid_client_metadata'],
    ];
    it.each(cases)('%s → %s', async (_name, body, error) => {
      const res = await register(base, body);
      expect(res.status).toBe(400);
      expect(res.json.error).toBe(error);
      expect(typeof res.json.error_description).toBe('string');
    });

    it('accepts https and loopback redirects, and echoes the metadata (RFC 7591 §3.2.1)', async () => {
      const res = await register(base, {
        redirect_uris: ['https://claude.ai/api/mcp/auth_callback', 'http://localhost:33418/callback'],
        token_endpoint_auth_method: 'client_secret_post',
        client_name: 'Claude',
      });
      expect(res.status).toBe(201);
      expect(res.json).toMatchObject({ token_endpoint_auth_method: 'client_secret_post', client_name: 'Claude' });
      expect(res.json.client_secret).toEqual(expect.any(String));
      expect(res.headers.get('cache-control')).toBe('no-store');
    });
  });

  describe('/authorize', () => {
    const good = () => ({
      response_type: 'code',
      client_id: client.client_id,
      redirect_uri: REDIRECT,
      code_challenge: pkce().challenge,
      code_challenge_method: 'S256',
      state: 'xyz',
      resource: `${base}/mcp/a`,
    });

    it.each([
      ['an unknown client', { client_id: 'nope' }, 'not registered'],
      ['a missing client_id', { client_id: undefined }, 'no client_id'],
      ['an unregistered redirect_uri', { redirect_uri: 'http://127.0.0.1:7777/other' }, 'redirect_uri is not one'],
      ['a redirect_uri on another host', { redirect_uri: 'https://evil.example/cb' }, 'redirect_uri is not one'],
    ])('%s → HTML error page, no redirect', async (_name, override, text) => {
      const res = await call(authorizeUrl(base, { ...good(), ...override }));
      expect(res.status).toBe(400);
      expect(res.headers.get('location')).toBeNull();
      expect(res.headers.get('content-type')).toContain('text/html');
      expect(res.text).toContain(text);
    });

    it.each([
      ['a missing code_challenge', { code_challenge: undefined }, 'invalid_request'],
      ['PKCE plain', { code_challenge_method: 'plain' }, 'invalid_request'],
      ['a missing code_challenge_method', { code_challenge_method: undefined }, 'invalid_request'],
      ['a malformed code_challenge', { code_challenge: 'short' }, 'invalid_request'],
      ['an unknown resource', { resource: 'https://elsewhere.example/mcp' }, 'invalid_target'],
      ['response_type=token', { response_type: 'token' }, 'unsupported_response_type'],
      ['a missing response_type', { response_type: undefined }, 'invalid_request'],
      ['an unknown scope', { scope: 'admin:everything' }, 'invalid_scope'],
    ])('%s → redirect with error=%s, state and iss', async (_name, override, error) => {
      const res = await call(authorizeUrl(base, { ...good(), ...override }));
      expect(res.status).toBe(302);
      const loc = new URL(res.headers.get('location')!);
      expect(`${loc.origin}${loc.pathname}`).toBe(REDIRECT);
      expect(loc.searchParams.get('error')).toBe(error);
      expect(loc.searchParams.get('state')).toBe('xyz');
      expect(loc.searchParams.get('iss')).toBe(base);
    });

    it('a missing state is allowed (PKCE) and simply not echoed', async () => {
      const res = await call(authorizeUrl(base, { ...good(), state: undefined, code_challenge_method: 'plain' }));
      const loc = new URL(res.headers.get('location')!);
      expect(loc.searchParams.get('error')).toBe('invalid_request');
      expect(loc.searchParams.has('state')).toBe(false);
    });

    it('a loopback redirect matches on any port (RFC 8252 §7.3)', async () => {
      const res = await call(authorizeUrl(base, { ...good(), redirect_uri: 'http://127.0.0.1:41234/cb' }));
      expect(res.status).toBe(302);
      expect(res.headers.get('location')).toContain('/login?return_to=');
    });

    it('shows client_name escaped on the consent page (no XSS)', async () => {
      const evil = await registerPublicClient(base, REDIRECT, { client_name: '<script>alert(1)</script>"><img src=x onerror=alert(2)>' });
      const browser = new TestBrowser();
      const url = authorizeUrl(base, { ...good(), client_id: evil.client_id });
      const login = await browser.follow(url);
      const afterLogin = await browser.submit(login, { email: ADMIN.email, password: ADMIN.password });
      const consent = await browser.follow(afterLogin);
      expect(consent.status).toBe(200);
      expect(consent.body).not.toContain('<script>alert(1)</script>');
      expect(consent.body).not.toContain('<img src=x');
      expect(consent.body).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    });

    it('with two upstreams and no resource, the user picks the upstream on the consent page', async () => {
      const { challenge, verifier } = pkce();
      const browser = new TestBrowser();
      const url = authorizeUrl(base, { ...good(), resource: undefined, code_challenge: challenge });
      const result = await authorizeInBrowser(browser, url, ADMIN, { extraConsentFields: { upstream: 'b' } });
      const tokens = await tokenRequest(base, {
        grant_type: 'authorization_code',
        code: result.code,
        code_verifier: verifier,
        redirect_uri: REDIRECT,
        client_id: client.client_id,
      });
      expect(tokens.status).toBe(200);
      expect((await mcpPost(gw.mcpUrl('b'), tokens.json.access_token)).status).toBe(200);
      expect((await mcpPost(gw.mcpUrl('a'), tokens.json.access_token)).status).toBe(401);
    });

    it('deny → access_denied at the redirect URI', async () => {
      const other = await registerPublicClient(base, REDIRECT);
      const result = await authorizeInBrowser(new TestBrowser(), authorizeUrl(base, { ...good(), client_id: other.client_id }), ADMIN, { approve: false });
      expect(result.error).toBe('access_denied');
      expect(result.state).toBe('xyz');
    });

    it('a consent post without the CSRF token is refused', async () => {
      const other = await registerPublicClient(base, REDIRECT);
      const browser = new TestBrowser();
      const login = await browser.follow(authorizeUrl(base, { ...good(), client_id: other.client_id }));
      const consent = await browser.follow(await browser.submit(login, { email: ADMIN.email, password: ADMIN.password }));
      const res = await browser.submit(consent, { csrf: 'forged' }, { button: 'decision=approve' });
      expect(res.status).toBe(403);
      expect(res.location).toBeUndefined();
    });
  });

  describe('/token', () => {
    async function freshCode(resource = `${base}/mcp/a`) {
      const { verifier, challenge } = pkce();
      const code = await obtainCode(base, new TestBrowser(), ADMIN, { clientId: client.client_id, redirectUri: REDIRECT, challenge, resource });
      return { code, verifier };
    }
    const exchange = (p: Record<string, string | undefined>, headers?: Record<string, string>) =>
      tokenRequest(base, { grant_type: 'authorization_code', redirect_uri: REDIRECT, client_id: client.client_id, ...p }, headers);

    it.each([
      ['a wrong code_verifier', (c: any) => ({ code: c.code, code_verifier: pkce().verifier }), 400, 'invalid_grant'],
      ['a missing code_verifier', (c: any) => ({ code: c.code }), 400, 'invalid_request'],
      ['a mismatched redirect_uri', (c: any) => ({ code: c.code, code_verifier: c.verifier, redirect_uri: 'http://127.0.0.1:7777/other' }), 400, 'invalid_grant'],
      ['an unknown code', (c: any) => ({ code: 'made-up', code_verifier: c.verifier }), 400, 'invalid_grant'],
      ['an unknown client', (c: any) => ({ code: c.code, code_verifier: c.verifier, client_id: 'nope' }), 401, 'invalid_client'],
      ['a resource other than the code’s', (c: any) => ({ code: c.code, code_verifier: c.verifier, resource: `${base}/mcp/b` }), 400, 'invalid_target'],
      ['an unsupported grant type', (c: any) => ({ code: c.code, grant_type: 'password' }), 400, 'unsupported_grant_type'],
      ['a missing grant type', (c: any) => ({ code: c.code, grant_type: undefined }), 400, 'invalid_request'],
    ])('%s', async (_name, params, status, error) => {
      const c = await freshCode();
      // exchange() fills grant_type and the rest; a case's undefined leaves that parameter out.
      const res = await exchange(params(c));
      expect(res.status).toBe(status);
      expect(res.json.error).toBe(error);
      expect(res.headers.get('cache-control')).toBe('no-store');
    });

    it('a replayed code is refused and the tokens issued from it are revoked', async () => {
      const c = await freshCode();
      const first = await exchange({ code: c.code, code_verifier: c.verifier });
      expect(first.status).toBe(200);
      expect((await mcpPost(gw.mcpUrl('a'), first.json.access_token)).status).toBe(200);
      const replay = await exchange({ code: c.code, code_verifier: c.verifier });
      expect(replay.json.error).toBe('invalid_grant');
      expect((await mcpPost(gw.mcpUrl('a'), first.json.access_token)).status).toBe(401);
      const refresh = await tokenRequest(base, { grant_type: 'refresh_token', refresh_token: first.json.refresh_token, client_id: client.client_id });
      expect(refresh.json.error).toBe('invalid_grant');
    });

    it('redirect_uri may be left out at both steps only by a client with a single registered URI', async () => {
      const { verifier, challenge } = pkce();
      const browser = new TestBrowser();
      const url = authorizeUrl(base, { response_type: 'code', client_id: client.client_id, code_challenge: challenge, code_challenge_method: 'S256', resource: `${base}/mcp/a` });
      const result = await authorizeInBrowser(browser, url, ADMIN, { redirectUri: REDIRECT });
      const ok = await exchange({ code: result.code, code_verifier: verifier, redirect_uri: undefined });
      expect(ok.status).toBe(200);

      const two = await registerPublicClient(base, REDIRECT, { redirect_uris: [REDIRECT, 'http://127.0.0.1:7777/second'] });
      const missing = await call(authorizeUrl(base, { response_type: 'code', client_id: two.client_id, code_challenge: challenge, code_challenge_method: 'S256' }));
      expect(missing.status).toBe(400);
      expect(missing.text).toContain('no redirect_uri');
    });

    it('a code issued to one client cannot be redeemed by another', async () => {
      const c = await freshCode();
      const other = await registerPublicClient(base, REDIRECT);
      const res = await exchange({ code: c.code, code_verifier: c.verifier, client_id: other.client_id });
      expect(res.json.error).toBe('invalid_grant');
    });

    it('a malformed body → invalid_request', async () => {
      const res = await call(`${base}/token`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{oops' });
      expect(res.status).toBe(400);
      expect(res.json.error).toBe('invalid_request');
    });
  });

  describe('the proxy (RFC 6750 / RFC 9728)', () => {
    let tokenForA: string;
    beforeAll(async () => {
      const { verifier, challenge } = pkce();
      const code = await obtainCode(base, new TestBrowser(), ADMIN, { clientId: client.client_id, redirectUri: REDIRECT, challenge, resource: `${base}/mcp/a` });
      const res = await tokenRequest(base, { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT, client_id: client.client_id });
      tokenForA = res.json.access_token;
    });

    it('a token for another upstream → 401 invalid_token; the same token works at its own', async () => {
      expect((await mcpPost(gw.mcpUrl('a'), tokenForA)).status).toBe(200);
      const res = await mcpPost(gw.mcpUrl('b'), tokenForA);
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toContain('error="invalid_token"');
      expect(res.headers.get('www-authenticate')).toContain('/.well-known/oauth-protected-resource/mcp/b');
    });

    it('no token → 401 with resource_metadata and no error code (RFC 6750 §3.1)', async () => {
      const res = await mcpPost(gw.mcpUrl('a'), null);
      expect(res.status).toBe(401);
      const challenge = res.headers.get('www-authenticate')!;
      expect(challenge).toMatch(/^Bearer /);
      expect(challenge).toContain(`resource_metadata="${base}/.well-known/oauth-protected-resource/mcp/a"`);
      expect(challenge).not.toContain('error=');
    });

    it.each([
      ['a garbage token', { Authorization: 'Bearer not-a-real-token' }, 401],
      ['a Basic credential', { Authorization: 'Basic Zm9vOmJhcg==' }, 401],
    ])('%s → %s', async (_name, headers, status) => {
      const res = await mcpPost(gw.mcpUrl('a'), null, undefined, headers);
      expect(res.status).toBe(status);
      expect(res.headers.get('www-authenticate')).toContain('resource_metadata=');
    });

    it('an unknown upstream → 404 JSON', async () => {
      const res = await mcpPost(gw.mcpUrl('nope'), tokenForA);
      expect(res.status).toBe(404);
      expect(res.json.error.message).toBeDefined();
    });

    it('a disallowed Origin → 403', async () => {
      const res = await mcpPost(gw.mcpUrl('a'), tokenForA, undefined, { Origin: 'https://evil.example' });
      expect(res.status).toBe(403);
    });

    it('an upstream that does not answer within its timeout → 504 with a JSON-RPC error', async () => {
      const silent = http.createServer(() => undefined);
      await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
      const port = (silent.address() as AddressInfo).port;
      const slow = await startTestGateway({ config: { upstreams: [{ slug: 's', url: `http://127.0.0.1:${port}/mcp`, timeout: 1 }] } });
      try {
        const sbase = slow.config.publicUrl;
        const c = await registerPublicClient(sbase, REDIRECT);
        const { verifier, challenge } = pkce();
        const code = await obtainCode(sbase, new TestBrowser(), ADMIN, { clientId: c.client_id, redirectUri: REDIRECT, challenge });
        const t = await tokenRequest(sbase, { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT, client_id: c.client_id });
        const res = await mcpPost(slow.mcpUrl('s'), t.json.access_token);
        expect(res.status).toBe(504);
        expect(res.json).toMatchObject({ jsonrpc: '2.0', error: { message: expect.stringContaining('timed out') }, id: 1 });
      } finally {
        await slow.close();
        slow.cleanup();
        silent.closeAllConnections();
        silent.close();
      }
    });

    it('an upstream that is down → 502 with a JSON-RPC error, not a hang', async () => {
      const down = await startTestGateway({ config: { upstreams: [{ slug: 'x', url: 'http://127.0.0.1:9/mcp' }] } });
      try {
        const dbase = down.config.publicUrl;
        const c = await registerPublicClient(dbase, REDIRECT);
        const { verifier, challenge } = pkce();
        const code = await obtainCode(dbase, new TestBrowser(), ADMIN, { clientId: c.client_id, redirectUri: REDIRECT, challenge });
        const t = await tokenRequest(dbase, { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT, client_id: c.client_id });
        const res = await mcpPost(down.mcpUrl('x'), t.json.access_token);
        expect(res.status).toBe(502);
        expect(res.json).toMatchObject({ jsonrpc: '2.0', error: { code: expect.any(Number) }, id: 1 });
      } finally {
        await down.close();
        down.cleanup();
      }
    });
  });

  describe('introspection (RFC 7662) and login', () => {
    it('refuses a public client and answers a confidential one about its own tokens', async () => {
      const pub = await call(`${base}/introspect`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token: 'x', client_id: client.client_id }),
      });
      expect(pub.status).toBe(401);
      expect(pub.json.error).toBe('invalid_client');

      const conf = (await register(base, { redirect_uris: [REDIRECT], token_endpoint_auth_method: 'client_secret_basic' })).json;
      const { verifier, challenge } = pkce();
      const code = await obtainCode(base, new TestBrowser(), ADMIN, { clientId: conf.client_id, redirectUri: REDIRECT, challenge, resource: `${base}/mcp/a` });
      const basic = `Basic ${Buffer.from(`${conf.client_id}:${conf.client_secret}`).toString('base64')}`;
      const tokens = await tokenRequest(base, { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT }, { Authorization: basic });
      expect(tokens.status).toBe(200);
      const intro = await call(`${base}/introspect`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: basic },
        body: new URLSearchParams({ token: tokens.json.access_token }),
      });
      expect(intro.json).toMatchObject({ active: true, client_id: conf.client_id, aud: `${base}/mcp/a`, iss: base });
      const wrongSecret = await call(`${base}/introspect`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: `Basic ${Buffer.from(`${conf.client_id}:wrong`).toString('base64')}` },
        body: new URLSearchParams({ token: tokens.json.access_token }),
      });
      expect(wrongSecret.status).toBe(401);
      expect(wrongSecret.headers.get('www-authenticate')).toContain('Basic');
    });

    it.each([
      ['a wrong password', ADMIN.email, 'wrong password'],
      ['an unknown email', 'nobody@example.test', ADMIN.password],
    ])('%s → the same generic message', async (_name, email, password) => {
      const browser = new TestBrowser();
      const page = await browser.get(`${base}/login`);
      const res = await browser.submit(page, { email, password });
      expect(res.status).toBe(401);
      expect(res.body).toContain('Wrong email or password.');
      expect(res.body).not.toContain(password);
    });

    it('a login post without the CSRF cookie is refused', async () => {
      const res = await call(`${base}/login`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ email: ADMIN.email, password: ADMIN.password, csrf: 'x' }),
      });
      expect(res.status).toBe(403);
      expect(res.headers.get('set-cookie') ?? '').not.toContain('gh_session');
    });
  });
});
