import http from 'node:http';
import { AddressInfo } from 'node:net';
import { startUpstream, RunningUpstream } from '../fixtures/upstream-mcp-server';
import { TestBrowser } from '../helpers/browser';
import { UsersService } from '../../server/src/identity/users.service';
import { UpstreamCredentialsService } from '../../server/src/upstreams/upstream-credentials.service';
import { UpstreamsService } from '../../server/src/upstreams/upstreams.service';
import { ADMIN, startTestGateway, TestGateway } from '../helpers/gateway';
import { authorizeUrl, call, mcpPost, pkce, register, registerPublicClient, tokenRequest } from '../helpers/raw-oauth';

const REDIRECT = 'http://127.0.0.1:7777/cb';
const DEEP = 8000;

function nested(depth: number): string {
  return '['.repeat(depth) + ']'.repeat(depth);
}

/** A loopback stand-in for a client's published metadata document, naming itself as client_id. */
async function serveMetadataDocument(redirectUris: string[]) {
  const server = http.createServer((req, res) => {
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    res
      .writeHead(200, { 'Content-Type': 'application/json' })
      .end(JSON.stringify({ client_id: `${origin}${req.url}`, redirect_uris: redirectUris, token_endpoint_auth_method: 'none' }));
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
    gw = await startTestGateway({
      config: {
        client_metadata_documents: { allow_private_networks: true },
        upstreams: [
          { slug: 'a', url: upstream.url },
          {
            slug: 'personal',
            name: 'Personal keys',
            url: upstream.url,
            auth: {
              mode: 'user_credentials',
              fields: [
                { name: 'api_key', label: 'API key', secret: true },
                { name: 'team', label: 'Team', secret: false, required: false },
              ],
              headers: { Authorization: 'Bearer {{api_key}}', 'X-Team': '{{team}}' },
            },
          },
        ],
      },
    });
    base = gw.config.publicUrl;
  });
  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
    gw?.cleanup();
  });

  describe('per-user credentials at consent (RFC 9110 §5.5)', () => {
    const consentFor = async (user: { email: string; password: string }, challenge: string) => {
      const client = await registerPublicClient(base, REDIRECT);
      const url = authorizeUrl(base, {
        response_type: 'code',
        client_id: client.client_id,
        redirect_uri: REDIRECT,
        code_challenge: challenge,
        code_challenge_method: 'S256',
        resource: `${base}/mcp/personal`,
      });
      const browser = new TestBrowser();
      const login = await browser.follow(url);
      const consent = await browser.follow(await browser.submit(login, user));
      expect(consent.body).toContain('name="cred_api_key"');
      return { browser, consent, clientId: client.client_id };
    };
    const stored = async (email: string) => {
      const user = (await gw.app.get(UsersService).findByEmail(email))!;
      return gw.app.get(UpstreamCredentialsService).hasUserCredentials(gw.app.get(UpstreamsService).get('personal')!, user.id);
    };

    it.each<[string, Record<string, string>, string]>([
      ['a control character in the key', { cred_api_key: 'key\x01abc' }, 'api_key'],
      ['a euro sign in the key', { cred_api_key: 'key€abc' }, 'api_key'],
      ['a line break in the key', { cred_api_key: 'key\r\nX-Injected: 1' }, 'api_key'],
      ['a control character in an optional field', { cred_api_key: 'good-key', cred_team: 'blue\x7f' }, 'team'],
    ])('refuses %s: the form comes back (400) with the field marked, and nothing is stored', async (_name, fields, marked) => {
      const user = { email: `u${Math.random().toString(36).slice(2)}@example.test`, password: 'a password for tests' };
      await gw.app.get(UsersService).create(user);
      const { browser, consent } = await consentFor(user, pkce().challenge);
      const refused = await browser.submit(consent, fields, { button: 'decision=approve' });
      expect(refused.status).toBe(400);
      expect(refused.headers.get('content-type')).toContain('text/html');
      expect(refused.location).toBeUndefined();
      expect(refused.body).toContain('contains characters that cannot be sent in an HTTP header');
      expect(refused.body).toMatch(new RegExp(`name="cred_${marked}"[^>]*aria-invalid="true"`));
      expect(refused.body.match(/aria-invalid="true"/g)).toHaveLength(1);
      expect(await stored(user.email)).toBe(false);
    });

    it('after a refused value, a valid one is accepted and reaches the upstream in its header template', async () => {
      const user = { email: 'keyed@example.test', password: 'a password for tests' };
      await gw.app.get(UsersService).create(user);
      const { verifier, challenge } = pkce();
      const { browser, consent, clientId } = await consentFor(user, challenge);
      const refused = await browser.submit(consent, { cred_api_key: 'k€y' }, { button: 'decision=approve' });
      expect(refused.status).toBe(400);
      const accepted = await browser.submit(refused, { cred_api_key: '  valid-key-123  ', cred_team: 'blue team' }, { button: 'decision=approve' });
      expect(accepted.status).toBe(303);
      const code = new URL(accepted.location!).searchParams.get('code')!;
      const tokens = await tokenRequest(base, { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT, client_id: clientId });
      expect((await mcpPost(`${base}/mcp/personal`, tokens.json.access_token)).status).toBe(200);
      const seen = upstream.seen[upstream.seen.length - 1].headers;
      expect(seen.authorization).toBe('Bearer valid-key-123');
      expect(seen['x-team']).toBe('blue team');
    });
  });

  describe('redirect URIs with a userinfo part', () => {
    const authorize = (clientId: string, redirectUri: string) =>
      authorizeUrl(base, {
        response_type: 'code',
        client_id: clientId,
        redirect_uri: redirectUri,
        code_challenge: pkce().challenge,
        code_challenge_method: 'S256',
        state: 's',
        resource: `${base}/mcp/a`,
      });

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
