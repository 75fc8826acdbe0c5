import { UsersService } from '../../server/src/identity/users.service';
import { startUpstream, RunningUpstream } from '../fixtures/upstream-mcp-server';
import { TestBrowser } from '../helpers/browser';
import { ADMIN, startTestGateway, TestGateway } from '../helpers/gateway';
import { authorizeUrl, call, obtainCode, pkce, register, registerPublicClient, tokenRequest } from '../helpers/raw-oauth';

const REDIRECT = 'http://127.0.0.1:7781/cb';
const MEMBER = { email: 'member@example.test', password: 'a member password of some length' };

/** A browser signed in at the gateway through the real login form. */
async function signedIn(base: string, creds: { email: string; password: string }): Promise<TestBrowser> {
  const browser = new TestBrowser();
  const done = await browser.submit(await browser.get(`${base}/login`), creds);
  if (done.status !== 303) throw new Error(`sign-in failed: ${done.status}`);
  return browser;
}

describe('session plumbing, no-store and pages', () => {
  let upstream: RunningUpstream;
  let gw: TestGateway;
  let base: string;
  let client: { client_id: string };

  beforeAll(async () => {
    upstream = await startUpstream();
    gw = await startTestGateway({ config: { upstreams: [{ slug: 'u', url: upstream.url }] } });
    base = gw.config.publicUrl;
    client = await registerPublicClient(base, REDIRECT);
    await gw.app.get(UsersService).create(MEMBER);
  });
  afterAll(async () => {
    await gw.close();
    await upstream.close();
    gw.cleanup();
  });

  describe('Cache-Control: no-store (the NoStore interceptor and its helper)', () => {
    const form = (fields: Record<string, string>) => ({
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields),
    });
    const cases: Array<[string, () => Promise<{ status: number; headers: Headers }>, number]> = [
      [
        '/authorize sending the browser to sign in',
        () =>
          call(authorizeUrl(base, { response_type: 'code', client_id: client.client_id, redirect_uri: REDIRECT, code_challenge: pkce().challenge, code_challenge_method: 'S256' })),
        302,
      ],
      ['/authorize showing its error page', () => call(authorizeUrl(base, { client_id: 'unknown' })), 400],
      ['/register answering a new client', () => register(base, { redirect_uris: [REDIRECT] }), 201],
      ['/register refusing metadata (the OAuth error filter)', () => register(base, { redirect_uris: ['/relative'] }), 400],
      [
        '/token refusing a code',
        () => tokenRequest(base, { grant_type: 'authorization_code', code: 'made-up', code_verifier: pkce().verifier, client_id: client.client_id, redirect_uri: REDIRECT }),
        400,
      ],
      ['/revoke answering a well-formed request', () => call(`${base}/revoke`, form({ token: 'unknown', client_id: client.client_id })), 200],
      [
        'a malformed body, refused before Nest (http-pipeline)',
        () => call(`${base}/token`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{oops' }),
        400,
      ],
      ['the upstream sign-in callback', () => call(`${base}/oauth/upstream/callback`), 400],
    ];
    it.each(cases)('%s', async (_name, request, status) => {
      const res = await request();
      expect(res.status).toBe(status);
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.headers.get('pragma')).toBe('no-cache');
    });

    it('leaves the public, cacheable metadata documents alone', async () => {
      const res = await call(`${base}/.well-known/oauth-authorization-server`);
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBeNull();
    });
  });

  describe('the session (SessionGuard, @CurrentUser, roles) on the routes that use it', () => {
    const introspect = (browser: TestBrowser | null, token: string) => {
      const init = { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token }) };
      if (!browser) return call(`${base}/introspect`, init);
      return call(`${base}/introspect`, { ...init, headers: { ...init.headers, Cookie: browser.jar.header(`${base}/introspect`)! } });
    };

    it('introspection: an admin session needs no client credentials; a member session or none does', async () => {
      const { verifier, challenge } = pkce();
      const code = await obtainCode(base, new TestBrowser(), ADMIN, { clientId: client.client_id, redirectUri: REDIRECT, challenge });
      const token = (await tokenRequest(base, { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT, client_id: client.client_id })).json
        .access_token;

      const admin = await introspect(await signedIn(base, ADMIN), token);
      expect(admin.status).toBe(200);
      expect(admin.json).toMatchObject({ active: true, client_id: client.client_id, aud: `${base}/mcp/u` });

      for (const who of [await signedIn(base, MEMBER), null]) {
        const refused = await introspect(who, token);
        expect(refused.status).toBe(401);
        expect(refused.json.error).toBe('invalid_client');
      }
    });

    it('the sign-in page sees the session (on to the console); signing out ends it on the server, not just in the browser', async () => {
      const browser = await signedIn(base, MEMBER);
      const cookie = browser.jar.header(`${base}/login`)!;
      const page = await browser.get(`${base}/login`);
      expect(page.status).toBe(303);
      expect(page.location).toBe(`${base}/admin/`);

      const out = await browser.post(`${base}/logout`, {}); // the console's "Sign out" form
      expect(out.status).toBe(303);
      expect(out.location).toBe(`${base}/login`);
      // The old cookie, replayed: its session is gone.
      const replayed = await call(`${base}/login`, { headers: { Cookie: cookie } });
      expect(replayed.text).toContain('Sign in to Gatehouse');
    });

    it.each([
      ['an unknown session value', 'gh_session=not-a-session'],
      ['a JSON cookie, which cookie-parser turns into an object', `gh_session=${encodeURIComponent('j:{"a":1}')}`],
      ['an empty value', 'gh_session='],
    ])('%s reads as signed out, never as an error', async (_name, cookie) => {
      const login = await call(`${base}/login`, { headers: { Cookie: cookie } });
      expect(login.status).toBe(200);
      expect(login.text).toContain('Sign in to Gatehouse');
      const authorize = await call(
        authorizeUrl(base, { response_type: 'code', client_id: client.client_id, redirect_uri: REDIRECT, code_challenge: pkce().challenge, code_challenge_method: 'S256' }),
        { headers: { Cookie: cookie } },
      );
      expect(authorize.status).toBe(302);
      expect(authorize.headers.get('location')).toMatch(/^\/login\?return_to=%2Fauthorize%3F/);
    });

    it('a session of a disabled user is no session', async () => {
      const users = gw.app.get(UsersService);
      const carol = await users.create({ email: 'carol@example.test', password: 'carol has a long password' });
      const browser = await signedIn(base, { email: 'carol@example.test', password: 'carol has a long password' });
      await users.setDisabled(carol.id, true);
      const page = await browser.get(`${base}/login`);
      expect(page.body).toContain('Sign in to Gatehouse');
    });
  });

  describe('one exception filter: a page for browsers, JSON for everyone else', () => {
    const BROWSER = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

    it.each(['GET', 'POST'])('an unknown address (%s) shows a browser a real 404 page in the layout', async (method) => {
      const res = await call(`${base}/no-such-page?x=<b>`, { method, headers: { Accept: BROWSER } });
      expect(res.status).toBe(404);
      expect(res.headers.get('content-type')).toContain('text/html');
      expect(res.text).toMatch(/^<!doctype html>/);
      expect(res.text).toContain('<title>Page not found · Gatehouse</title>');
      expect(res.text).toContain('<main><h1>Page not found</h1>');
      expect(res.text).not.toContain('Cannot ');
      expect(res.text).not.toContain('<b>');
    });

    it.each([
      ['Accept: application/json', { Accept: 'application/json' }],
      ['Accept: */*', { Accept: '*/*' }],
      ['no Accept header', {}],
    ])("an unknown address with %s keeps Nest's JSON 404", async (_name, headers) => {
      const res = await call(`${base}/no-such-page`, { headers: headers as Record<string, string> });
      expect(res.status).toBe(404);
      expect(res.headers.get('content-type')).toContain('application/json');
      expect(res.json).toEqual({ statusCode: 404, message: 'Cannot GET /no-such-page', error: 'Not Found' });
    });

    it('the admin API answers JSON even to a browser', async () => {
      const res = await call(`${base}/admin/api/nothing-here`, { headers: { Accept: BROWSER } });
      expect(res.status).toBe(404);
      expect(res.json).toEqual({ statusCode: 404, message: 'Cannot GET /admin/api/nothing-here', error: 'Not Found' });
    });

    it('OAuth endpoints keep their own error JSON, even for a browser', async () => {
      const res = await call(`${base}/.well-known/oauth-protected-resource/mcp/none`, { headers: { Accept: BROWSER } });
      expect(res.status).toBe(404);
      expect(res.json).toEqual({ error: 'not_found', error_description: 'no such endpoint' });
      const token = await call(`${base}/token`, { method: 'POST', headers: { Accept: BROWSER, 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'grant_type=password' });
      expect(token.json.error).toBe('invalid_client');
    });

    it('the sign-in, consent and error pages share the layout', async () => {
      const browser = new TestBrowser();
      const login = await browser.get(`${base}/login`);
      const error = await browser.get(authorizeUrl(base, { client_id: 'unknown' }));
      const missing = await browser.get(`${base}/no-such-page`);
      const head = (body: string) => body.slice(0, body.indexOf('<title>'));
      expect(head(login.body)).toBe(head(error.body));
      expect(head(missing.body)).toBe(head(login.body));
    });
  });
});
