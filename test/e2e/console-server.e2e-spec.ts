import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { startUpstream, RunningUpstream } from '../fixtures/upstream-mcp-server';
import { TestBrowser } from '../helpers/browser';
import { ADMIN, startTestGateway, TestGateway } from '../helpers/gateway';
import { authorizeUrl, call, pkce, registerPublicClient } from '../helpers/raw-oauth';

const WEB_DIST = join(__dirname, '..', '..', 'dist', 'web');
const REDIRECT = 'http://127.0.0.1:7782/cb';

/** What the server does for the console: serve the app at every /admin/* path, land sign-ins there, link to it. */
describe('the console on the server side', () => {
  let upstream: RunningUpstream;
  let gw: TestGateway;
  let base: string;

  beforeAll(async () => {
    if (!existsSync(join(WEB_DIST, 'index.html'))) throw new Error('dist/web is missing: run `npm run build:web` (npm test does it first)');
    upstream = await startUpstream();
    gw = await startTestGateway({
      config: {
        upstreams: [
          { slug: 'u', url: upstream.url },
          { slug: 'reports', url: upstream.url, scopes: ['mcp:read', 'reports:export'] },
        ],
      },
    });
    base = gw.config.publicUrl;
  });
  afterAll(async () => {
    await gw.close();
    await upstream.close();
    gw.cleanup();
  });

  describe('client-side routes survive a reload: /admin/* answers the app', () => {
    it.each(['/admin/', '/admin/users', '/admin/upstreams/some-slug', '/admin/audit?type=login&outcome=failure'])(
      '%s answers index.html, revalidated on every load',
      async (path) => {
        const res = await call(`${base}${path}`, { headers: { Accept: 'text/html' } });
        expect(res.status).toBe(200);
        expect(res.headers.get('content-type')).toContain('text/html');
        expect(res.text).toContain('<div id="app">');
        expect(res.headers.get('cache-control')).toBe('no-cache');
        expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
      },
    );

    it('the hashed assets may be cached for good', async () => {
      const js = readdirSync(join(WEB_DIST, 'assets')).find((f) => f.endsWith('.js'))!;
      const res = await call(`${base}/admin/assets/${js}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    });

    it.each(['/admin/assets/missing-0000.js', '/admin/missing.css', '/admin/logo.png'])('a missing file (%s) stays a 404, never the app in its place', async (path) => {
      const res = await call(`${base}${path}`);
      expect(res.status).toBe(404);
      expect(res.text).not.toContain('<div id="app">');
    });

    it.each(['/admin/api', '/admin/api/', '/admin/api/no-such-resource', '/admin/api/users/123'])(
      "%s is the admin API's, not the app's: JSON, even for a browser",
      async (path) => {
        const res = await call(`${base}${path}`, { headers: { Accept: 'text/html,application/xhtml+xml,*/*;q=0.8' } });
        expect(res.headers.get('content-type')).toContain('application/json');
        expect(res.text).not.toContain('<div id="app">');
      },
    );

    it('only reads: a POST to a console path is not answered with the app', async () => {
      const res = await call(`${base}/admin/users`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
      expect(res.status).toBe(404);
      expect(res.text).not.toContain('<div id="app">');
    });
  });

  describe('signing in lands on the console unless a return-to is pending', () => {
    it('the sign-in form without return_to goes to /admin/', async () => {
      const browser = new TestBrowser();
      const form = await browser.get(`${base}/login`);
      expect(browser.forms(form)[0].fields.return_to).toBe('/admin/');
      const done = await browser.submit(form, ADMIN);
      expect(done.status).toBe(303);
      expect(done.location).toBe(`${base}/admin/`);
    });

    it('a pending return_to still wins', async () => {
      const browser = new TestBrowser();
      const done = await browser.submit(await browser.get(`${base}/login?return_to=${encodeURIComponent('/admin/audit?type=login')}`), ADMIN);
      expect(done.location).toBe(`${base}/admin/audit?type=login`);
    });

    it('an unsafe return_to (another host) falls back to the console, never off-site', async () => {
      const browser = new TestBrowser();
      const done = await browser.submit(await browser.get(`${base}/login?return_to=${encodeURIComponent('//evil.example/x')}`), ADMIN);
      expect(done.location).toBe(`${base}/admin/`);
    });

    it('the sign-in page, when already signed in, goes on to the console (or the pending return_to), not to a dead end', async () => {
      const browser = new TestBrowser();
      await browser.submit(await browser.get(`${base}/login`), ADMIN);
      const plain = await browser.get(`${base}/login`);
      expect(plain.status).toBe(303);
      expect(plain.location).toBe(`${base}/admin/`);
      const pending = await browser.get(`${base}/login?return_to=${encodeURIComponent('/admin/me')}`);
      expect(pending.location).toBe(`${base}/admin/me`);
    });
  });

  describe('the consent page', () => {
    let consent: string;

    async function consentPageFor(slug: string, scope: string): Promise<string> {
      const client = await registerPublicClient(base, REDIRECT, { client_name: 'Words Test' });
      const browser = new TestBrowser();
      await browser.submit(await browser.get(`${base}/login`), ADMIN);
      const url = authorizeUrl(base, {
        response_type: 'code',
        client_id: client.client_id,
        redirect_uri: REDIRECT,
        code_challenge: pkce().challenge,
        code_challenge_method: 'S256',
        resource: gw.mcpUrl(slug),
        scope,
      });
      const page = await browser.get(url);
      expect(page.status).toBe(200);
      return page.body;
    }

    beforeAll(async () => {
      consent = await consentPageFor('u', 'mcp:read mcp:tools');
    });

    it('says in words what the scopes allow', () => {
      expect(consent).toContain('<ul class="scopes"><li>Read tools and resources</li><li>Call tools</li></ul>');
      expect(consent).not.toContain('mcp:read, mcp:tools');
    });

    it('shows a scope it has no words for (configured for one upstream) as it is', async () => {
      const page = await consentPageFor('reports', 'mcp:read reports:export');
      expect(page).toContain('<ul class="scopes"><li>Read tools and resources</li><li>reports:export</li></ul>');
    });

    it('links to "My access", where access is revoked later', () => {
      expect(consent).toMatch(/You can revoke access later on <a href="\/admin\/me">My access<\/a>/);
    });

    it('never breaks words mid-word (long values still wrap, at word ends first)', () => {
      expect(consent).not.toMatch(/word-break:\s*break-all|overflow-wrap:\s*anywhere/);
      expect(consent).toMatch(/dd\{[^}]*overflow-wrap:break-word/);
    });
  });
});
