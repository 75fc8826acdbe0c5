import { startUpstream, RunningUpstream } from '../fixtures/upstream-mcp-server';
import { TestBrowser } from '../helpers/browser';
import { ADMIN, startTestGateway, TestGateway } from '../helpers/gateway';
import { authorizeUrl, call, pkce, register, registerPublicClient, tokenRequest } from '../helpers/raw-oauth';

const REDIRECT = 'http://127.0.0.1:7781/cb';

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
      ['/authorize sending the browser to sign in', () => call(authorizeUrl(base, { response_type: 'code', client_id: client.client_id, redirect_uri: REDIRECT, code_challenge: pkce().challenge, code_challenge_method: 'S256' })), 302],
      ['/authorize showing its error page', () => call(authorizeUrl(base, { client_id: 'unknown' })), 400],
      ['/register answering a new client', () => register(base, { redirect_uris: [REDIRECT] }), 201],
      ['/register refusing metadata (the OAuth error filter)', () => register(base, { redirect_uris: ['/relative'] }), 400],
      ['/token refusing a code', () => tokenRequest(base, { grant_type: 'authorization_code', code: 'made-up', code_verifier: pkce().verifier, client_id: client.client_id, redirect_uri: REDIRECT }), 400],
      ['/revoke answering a well-formed request', () => call(`${base}/revoke`, form({ token: 'unknown', client_id: client.client_id })), 200],
      ['a malformed body, refused before Nest (http-pipeline)', () => call(`${base}/token`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{oops' }), 400],
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
});
