import { startUpstream, RunningUpstream } from '../fixtures/upstream-mcp-server';
import { startTestGateway, TestGateway } from '../helpers/gateway';
import { call, register } from '../helpers/raw-oauth';

const REDIRECT = 'http://127.0.0.1:7777/cb';
const DEEP = 8000;

function nested(depth: number): string {
  return '['.repeat(depth) + ']'.repeat(depth);
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
    gw = await startTestGateway({ config: { upstreams: [{ slug: 'a', url: upstream.url }] } });
    base = gw.config.publicUrl;
  });
  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
    gw?.cleanup();
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
