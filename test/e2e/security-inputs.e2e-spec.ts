import http from 'node:http';
import { AddressInfo } from 'node:net';
import { startUpstream, RunningUpstream } from '../fixtures/upstream-mcp-server';
import { TestBrowser } from '../helpers/browser';
import { ADMIN, startTestGateway, TestGateway } from '../helpers/gateway';
import { authorizeUrl, call, pkce, register, registerPublicClient } from '../helpers/raw-oauth';

const REDIRECT = 'http://127.0.0.1:7777/cb';
const DEEP = 8000;

function nested(depth: number): string {
  return '['.repeat(depth) + ']'.repeat(depth);
}

/** A loopback stand-in for a client's published metadata document, naming itself as client_id. */
async function serveMetadataDocument(redirectUris: string[]) {
  const server = http.createServer((req, res) => {
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ client_id: `${origin}${req.url}`, redirect_uris: redirectUris, token_endpoint_auth_method: 'none' }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/client.json`;
  return { url, close: () => new Promise<void>((r) => server.close(() => r())) };
}

function postJson(url: string, text: string, contentType = 'application/json') {
  return call(url, { method: 'POST', headers: { 'Content-Type': contentType }, body: text });
}

describe('input validation (security review)', () => {
  let upstream: RunningUpstream;
  let gw: TestGateway;
  let base: string;

  beforeAll(async () => {
    upstream = await startUpstream();
    gw = await startTestGateway({ config: { client_metadata_documents: { allow_private_networks: true }, upstreams: [{ slug: 'a', url: upstream.url }] } });
    base = gw.config.publicUrl;
  });
  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
    gw?.cleanup();
  });

  describe('redirect URIs with a userinfo part', () => {
    const authorize = (clientId: string, redirectUri: string) =>
      authorizeUrl(base, { response_type: 'code', client_id: clientId, redirect_uri: redirectUri, code_challenge: pkce().challenge, code_challenge_method: 'S256', state: 's', resource: `${base}/mcp/a` });

    it.each(['http://evil@127.0.0.1:7777/cb', 'http://evil:pw@127.0.0.1/cb', 'http://@127.0.0.1:7777/cb'])('registration refuses %s with invalid_redirect_uri', async (uri) => {
      const res = await register(base, { redirect_uris: [uri], token_endpoint_auth_method: 'none' });
      expect(res.status).toBe(400);
      expect(res.json.error).toBe('invalid_redirect_uri');
      expect(res.json.error_description).toContain('user name or password');
    });

    it.each(['http://evil@127.0.0.1:7777/cb', 'http://evil@127.0.0.1:9999/cb', 'http://@127.0.0.1:7777/cb'])(
      '/authorize with redirect_uri %s shows an error page and never redirects, signed in or not',
      async (uri) => {
        const client = await registerPublicClient(base, REDIRECT);
        const browser = new TestBrowser();
        const anonymous = await browser.get(authorize(client.client_id, uri));
        const signedIn = await browser.submit(await browser.get(`${base}/login`), ADMIN);
        expect(signedIn.status).toBe(303);
        const afterLogin = await browser.get(authorize(client.client_id, uri));
        for (const page of [anonymous, afterLogin]) {
          expect(page.status).toBe(400);
          expect(page.headers.get('content-type')).toContain('text/html');
          expect(page.location).toBeUndefined();
          expect(page.body).toContain('must not contain a user name or password');
        }
      },
    );

    it('a client metadata document listing a redirect URI with userinfo is refused at /authorize', async () => {
      const doc = await serveMetadataDocument(['http://evil@127.0.0.1:7777/cb']);
      try {
        const page = await new TestBrowser().get(authorize(doc.url, 'http://evil@127.0.0.1:7777/cb'));
        expect(page.status).toBe(400);
        expect(page.headers.get('content-type')).toContain('text/html');
        expect(page.location).toBeUndefined();
        expect(page.body).toContain('no valid redirect_uris');
      } finally {
        await doc.close();
      }
    });
  });

  describe('JSON bodies: nesting depth and metadata shapes', () => {
    it('refuses contacts nested 8,000 deep at /register with invalid_client_metadata naming the member, not a 500', async () => {
      const body = `{"redirect_uris":["${REDIRECT}"],"token_endpoint_auth_method":"none","contacts":${nested(DEEP)}}`;
      expect(body.length).toBeLessThan(64 * 1024);
      const res = await postJson(`${base}/register`, body);
      expect(res.status).toBe(400);
      expect(res.json.error).toBe('invalid_client_metadata');
      expect(res.json.error_description).toContain('deeper than 32');
      expect(res.json.error_description).toContain('contacts');
      expect(res.headers.get('cache-control')).toBe('no-store');
    });

    it.each(['token', 'revoke', 'introspect'])('refuses a deeply nested JSON body at /%s with invalid_request', async (path) => {
      const res = await postJson(`${base}/${path}`, `{"grant_type":"authorization_code","token":"x","client_id":${nested(DEEP)}}`);
      expect(res.status).toBe(400);
      expect(res.json.error).toBe('invalid_request');
      expect(res.json.error_description).toContain('deeper than 32');
    });

    it('brackets inside strings do not count as nesting', async () => {
      const res = await register(base, { redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none', client_name: '['.repeat(100) + '{"'.repeat(100) });
      expect(res.status).toBe(201);
    });

    it('refuses a JSON body that is not UTF-8 (RFC 8259 §8.1)', async () => {
      const body = Buffer.from(JSON.stringify({ redirect_uris: [REDIRECT] }), 'utf16le');
      const res = await call(`${base}/register`, { method: 'POST', headers: { 'Content-Type': 'application/json; charset=utf-16le' }, body });
      expect(res.status).toBe(400);
      expect(res.json.error).toBe('invalid_client_metadata');
    });

    it.each<[string, unknown]>([
      ['an object', { a: 'x@example.test' }],
      ['a number', 42],
      ['a string', 'x@example.test'],
      ['an array holding an object', [{ email: 'x@example.test' }]],
      ['an array of 11 addresses', Array.from({ length: 11 }, (_, i) => `p${i}@example.test`)],
      ['an over-long address', [`${'x'.repeat(300)}@example.test`]],
    ])('refuses contacts given as %s with invalid_client_metadata', async (_name, contacts) => {
      const res = await register(base, { redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none', contacts });
      expect(res.status).toBe(400);
      expect(res.json.error).toBe('invalid_client_metadata');
      expect(res.json.error_description).toContain('contacts');
    });

    it('refuses an over-long redirect URI', async () => {
      const res = await register(base, { redirect_uris: [`${REDIRECT}?${'q'.repeat(2100)}`], token_endpoint_auth_method: 'none' });
      expect(res.status).toBe(400);
      expect(res.json.error).toBe('invalid_redirect_uri');
    });

    it('a valid registration with contacts still works; unknown members are ignored, not stored', async () => {
      const res = await register(base, {
        redirect_uris: [REDIRECT],
        token_endpoint_auth_method: 'none',
        contacts: ['ops@example.test'],
        grant_types: ['authorization_code', 'refresh_token', 'authorization_code'],
        x_unknown: { deep: [[[['kept?']]]] },
      });
      expect(res.status).toBe(201);
      expect(res.json.contacts).toEqual(['ops@example.test']);
      expect(res.json.grant_types).toEqual(['authorization_code', 'refresh_token']);
      expect(res.json).not.toHaveProperty('x_unknown');
    });
  });
});

describe('registration cap (RFC 6585 §4)', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({ config: { registration: { max_per_source_per_hour: 2 } } });
  });
  afterAll(async () => {
    await gw?.close();
    gw?.cleanup();
  });

  it('answers 429 with Retry-After in seconds until the hour window frees a slot', async () => {
    const body = { redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none' };
    for (let i = 0; i < 2; i++) expect((await register(gw.config.publicUrl, body)).status).toBe(201);
    const capped = await register(gw.config.publicUrl, body);
    expect(capped.status).toBe(429);
    expect(capped.json.error).toBe('too_many_requests');
    const retryAfter = capped.headers.get('retry-after');
    expect(retryAfter).toMatch(/^\d+$/);
    // The first registration was made moments ago: its slot frees close to an hour from now.
    expect(Number(retryAfter)).toBeGreaterThan(3000);
    expect(Number(retryAfter)).toBeLessThanOrEqual(3600);
  });
});
