import { existsSync } from 'node:fs';
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { createProxyMiddleware } from 'http-proxy-middleware';
import { Browser, chromium, Page } from 'playwright-core';
import { startUpstream, RunningUpstream } from '../fixtures/upstream-mcp-server';
import { FIXTURE_USER, RunningOAuthUpstream, startOAuthUpstream } from '../fixtures/upstream-oauth-server';
import { adminApi, signInToConsole } from '../helpers/admin-api';
import { TestBrowser } from '../helpers/browser';
import { ADMIN, freePort, startTestGateway, TestGateway } from '../helpers/gateway';
import { connectWithOAuth } from '../helpers/oauth-client';
import { authorizeUrl, call, initializeRequest, mcpPost, pkce, registerPublicClient, tokenRequest } from '../helpers/raw-oauth';

const ROOT = join(__dirname, '..', '..');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const PREFIX = '/gatehouse';
const REDIRECT = 'http://127.0.0.1:7793/cb';

interface PrefixProxy {
  close(): Promise<void>;
}

/**
 * A reverse proxy on loopback that serves the gateway under /gatehouse, as README's reverse-proxy
 * section configures Caddy, nginx or Traefik: /gatehouse and below go to the gateway, with the
 * prefix stripped or kept; of the host root only the two well-known URLs of RFC 8414 §3.1 and
 * RFC 9728 §3.1 with /gatehouse inserted go there too. Anything else belongs to another site (404).
 */
async function startPrefixProxy(port: number, gateway: string, style: 'strip' | 'keep'): Promise<PrefixProxy> {
  const underPrefix = (path: string) => path === PREFIX || path.startsWith(`${PREFIX}/`) || path.startsWith(`${PREFIX}?`);
  const wellKnown = (path: string) =>
    /^\/\.well-known\/oauth-authorization-server\/gatehouse(\?|$)/.test(path) || path.startsWith('/.well-known/oauth-protected-resource/gatehouse/');
  const forward = createProxyMiddleware<IncomingMessage, ServerResponse>({
    target: gateway,
    pathFilter: (path) => underPrefix(path) || wellKnown(path),
    pathRewrite: (path) => {
      if (style === 'keep' || !underPrefix(path)) return path;
      const rest = path.slice(PREFIX.length);
      return rest.startsWith('/') ? rest : `/${rest}`;
    },
  });
  const server: Server = createServer((req, res) => {
    void forward(req, res, () => {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('another site');
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function setCookies(headers: Headers): string[] {
  return headers.getSetCookie();
}

describe.each([
  ['strips', 'strip' as const],
  ['keeps', 'keep' as const],
])('PUBLIC_URL with a path: behind a proxy that %s the /gatehouse prefix', (_name, style) => {
  let upstream: RunningUpstream;
  let oauthUpstream: RunningOAuthUpstream;
  let gw: TestGateway;
  let proxy: PrefixProxy;
  let origin: string;
  let publicUrl: string;
  let mcpUrl: string;

  beforeAll(async () => {
    upstream = await startUpstream();
    oauthUpstream = await startOAuthUpstream();
    const port = await freePort();
    origin = `http://127.0.0.1:${port}`;
    publicUrl = `${origin}${PREFIX}`;
    gw = await startTestGateway({
      config: {
        server: { public_url: publicUrl },
        upstreams: [
          { slug: 'notes', name: 'Notes', url: upstream.url },
          { slug: 'crm', name: 'CRM', url: oauthUpstream.url, auth: { mode: 'oauth' } },
        ],
      },
    });
    proxy = await startPrefixProxy(port, gw.url, style);
    mcpUrl = `${publicUrl}/mcp/notes`;
  });
  afterAll(async () => {
    await proxy?.close();
    await gw?.close();
    await upstream?.close();
    await oauthUpstream?.close();
    gw?.cleanup();
  });

  it("the MCP SDK client discovers, registers, signs in, consents and calls a tool, every step through the proxy's prefix", async () => {
    const { client, provider, authorization } = await connectWithOAuth(mcpUrl, ADMIN);
    try {
      const result = await client.callTool({ name: 'echo', arguments: { text: 'under a path' } });
      expect(result.content).toEqual([{ type: 'text', text: 'under a path' }]);
      expect(provider.discovery?.resourceMetadataUrl).toBe(`${origin}/.well-known/oauth-protected-resource${PREFIX}/mcp/notes`);
      expect(provider.discovery?.resourceMetadata?.resource).toBe(mcpUrl);
      expect(provider.discovery?.authorizationServerMetadata?.issuer).toBe(publicUrl);
      expect(authorization?.iss).toBe(publicUrl);
    } finally {
      await client.close();
    }
  });

  it("an upstream with its own authorization server: the gateway's redirect URI there, and the way back to /authorize, carry the prefix", async () => {
    const { client } = await connectWithOAuth(`${publicUrl}/mcp/crm`, ADMIN, { allowOrigins: [oauthUpstream.origin] });
    try {
      expect(oauthUpstream.authorizations.at(-1)).toMatchObject({ redirectUri: `${publicUrl}/oauth/upstream/callback` });
      const who = await client.callTool({ name: 'whoami', arguments: {} });
      expect(JSON.stringify(who.content)).toContain(FIXTURE_USER);
    } finally {
      await client.close();
    }
  });

  it('a 401 from /mcp names the RFC 9728 §3.1 metadata URL (path inserted), which names the prefixed resource and issuer', async () => {
    const res = await mcpPost(mcpUrl, null, initializeRequest());
    expect(res.status).toBe(401);
    const metadataUrl = `${origin}/.well-known/oauth-protected-resource${PREFIX}/mcp/notes`;
    expect(res.headers.get('www-authenticate')).toContain(`resource_metadata="${metadataUrl}"`);
    const doc = await call(metadataUrl);
    expect(doc.status).toBe(200);
    expect(doc.json).toMatchObject({ resource: mcpUrl, authorization_servers: [publicUrl] });
  });

  it('the authorization server metadata is at the RFC 8414 §3.1 URL, the issuer and every endpoint under the prefix', async () => {
    const res = await call(`${origin}/.well-known/oauth-authorization-server${PREFIX}`);
    expect(res.status).toBe(200);
    expect(res.json.issuer).toBe(publicUrl);
    const endpoints = Object.entries(res.json as Record<string, unknown>).filter(([key]) => key.endsWith('_endpoint'));
    expect(endpoints.map(([key]) => key).sort()).toEqual(['authorization_endpoint', 'introspection_endpoint', 'registration_endpoint', 'revocation_endpoint', 'token_endpoint']);
    for (const [, url] of endpoints) expect(String(url).startsWith(`${publicUrl}/`)).toBe(true);
  });

  it('there is no openid-configuration document (it would lack the OpenID fields): 404 wherever a client looks', async () => {
    // The SDK's fallbacks: inserted before the issuer's path (at the gateway, as a proxy forwarding it would pass it on), then after it.
    for (const url of [`${gw.url}/.well-known/openid-configuration${PREFIX}`, `${publicUrl}/.well-known/openid-configuration`, `${gw.url}/.well-known/openid-configuration`]) {
      const res = await call(url, { headers: { Accept: 'application/json' } });
      expect([url, res.status]).toEqual([url, 404]);
    }
  });

  it('sign-in and consent: every redirect, form action and cookie path carries the prefix, and the token works at the prefixed MCP URL', async () => {
    const client = await registerPublicClient(publicUrl, REDIRECT);
    const { verifier, challenge } = pkce();
    const browser = new TestBrowser();
    const start = authorizeUrl(publicUrl, {
      response_type: 'code',
      client_id: client.client_id,
      redirect_uri: REDIRECT,
      code_challenge: challenge,
      code_challenge_method: 'S256',
      state: 's1',
      resource: mcpUrl,
    });

    const toSignIn = await browser.get(start);
    expect(toSignIn.status).toBe(302);
    const signInAt = new URL(toSignIn.location!);
    expect(signInAt.origin + signInAt.pathname).toBe(`${publicUrl}/login`);
    expect(signInAt.searchParams.get('return_to')).toBe(new URL(start).pathname + new URL(start).search);

    const signIn = await browser.get(signInAt);
    expect(signIn.status).toBe(200);
    expect(signIn.body).toContain(`action="${PREFIX}/login"`);
    expect(signIn.body).toContain(`href="${PREFIX}/admin/favicon.svg"`);
    expect(setCookies(signIn.headers).find((c) => c.startsWith('gh_csrf='))).toMatch(new RegExp(`; Path=${PREFIX}(;|$)`));

    const signedIn = await browser.submit(signIn, ADMIN);
    expect(signedIn.status).toBe(303);
    expect(signedIn.location).toBe(start);
    const session = setCookies(signedIn.headers).find((c) => c.startsWith('gh_session='));
    expect(session).toMatch(new RegExp(`; Path=${PREFIX}(;|$)`));

    const consent = await browser.get(signedIn.location!);
    expect(consent.status).toBe(200);
    expect(consent.body).toContain(`action="${PREFIX}/authorize"`);
    expect(consent.body).toContain(`href="${PREFIX}/admin/me"`);
    const formIndex = browser.forms(consent).findIndex((f) => f.buttons.some((b) => b.name === 'decision'));
    const approved = await browser.submit(consent, {}, { formIndex, button: 'decision=approve' });
    expect(approved.status).toBe(303);
    const back = new URL(approved.location!);
    expect(back.origin + back.pathname).toBe(REDIRECT);
    expect(back.searchParams.get('iss')).toBe(publicUrl);

    const tokens = await tokenRequest(publicUrl, {
      grant_type: 'authorization_code',
      code: back.searchParams.get('code')!,
      redirect_uri: REDIRECT,
      client_id: client.client_id,
      code_verifier: verifier,
      resource: mcpUrl,
    });
    expect(tokens.status).toBe(200);
    // The token's audience is the prefixed resource: the gateway accepts it there.
    const initialized = await mcpPost(mcpUrl, tokens.json.access_token, initializeRequest());
    expect(initialized.status).toBe(200);
  });

  it('signing in with nothing pending lands on the console under the prefix; signing out clears the cookie there and returns to the prefixed sign-in', async () => {
    const browser = new TestBrowser();
    const signedIn = await browser.submit(await browser.get(`${publicUrl}/login`), ADMIN);
    expect(signedIn.status).toBe(303);
    expect(signedIn.location).toBe(`${publicUrl}/admin/`);
    const out = await browser.request(`${publicUrl}/logout`, { method: 'POST' });
    expect(out.status).toBe(303);
    expect(out.location).toBe(`${publicUrl}/login`);
    expect(setCookies(out.headers).find((c) => c.startsWith('gh_session='))).toMatch(new RegExp(`; Path=${PREFIX}(;|$)`));
  });

  it("a browser's 404 page links to the prefixed sign-in", async () => {
    const missing = await call(`${publicUrl}/no-such-page`, { headers: { Accept: 'text/html' } });
    expect(missing.status).toBe(404);
    expect(missing.text).toContain(`href="${PREFIX}/login"`);
  });

  it('the console: index.html at any depth names its assets and base path under the prefix, and they load through the proxy', async () => {
    const res = await call(`${publicUrl}/admin/users/42`, { headers: { Accept: 'text/html' } });
    expect(res.status).toBe(200);
    expect(res.text).toContain(`<meta name="gatehouse-base-path" content="${PREFIX}" />`);
    const urls = [...res.text.matchAll(/\s(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
    expect(urls.length).toBeGreaterThanOrEqual(3);
    for (const url of urls) {
      expect(url.startsWith(`${PREFIX}/admin/`)).toBe(true);
      expect((await call(`${origin}${url}`)).status).toBe(200);
    }
    const root = await call(publicUrl);
    expect(root.status).toBe(302);
    expect(root.headers.get('location')).toBe(`${PREFIX}/admin/`);
    const bare = await call(`${publicUrl}/admin`);
    expect(bare.status).toBe(301);
    expect(bare.headers.get('location')).toBe(`${PREFIX}/admin/`);
  });

  it('an invite link is under the prefix, its form posts there, and setting the password lands on the prefixed console', async () => {
    const session = await signInToConsole(publicUrl, ADMIN);
    const created = await adminApi(publicUrl, session)('POST', '/users', { email: `invited-${style}@example.test`, role: 'member' });
    expect(created.status).toBe(201);
    const link: string = created.json.inviteUrl;
    expect(link.startsWith(`${publicUrl}/invite/`)).toBe(true);
    const browser = new TestBrowser();
    const page = await browser.get(link);
    expect(page.status).toBe(200);
    expect(page.body).toContain(`action="${new URL(link).pathname}"`);
    const done = await browser.submit(page, { password: 'a long enough password', confirm: 'a long enough password' });
    expect(done.status).toBe(303);
    expect(done.location).toBe(`${publicUrl}/admin/`);
  });
});

describe('the console in a real browser under /gatehouse (Debian chromium)', () => {
  let upstream: RunningUpstream;
  let gw: TestGateway;
  let proxy: PrefixProxy;
  let publicUrl: string;
  let browser: Browser;

  beforeAll(async () => {
    if (!existsSync(join(ROOT, 'dist', 'web', 'index.html'))) throw new Error('dist/web is missing: run `npm run build:web` (npm test does it first)');
    if (!existsSync(CHROMIUM)) throw new Error(`no browser at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM_PATH)`);
    upstream = await startUpstream();
    const port = await freePort();
    publicUrl = `http://127.0.0.1:${port}${PREFIX}`;
    gw = await startTestGateway({ config: { server: { public_url: publicUrl }, upstreams: [{ slug: 'notes', name: 'Notes', url: upstream.url }] } });
    proxy = await startPrefixProxy(port, gw.url, 'strip');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
  });
  afterAll(async () => {
    await browser?.close();
    await proxy?.close();
    await gw?.close();
    await upstream?.close();
    gw?.cleanup();
  });

  function problemsOf(page: Page): string[] {
    const errors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(`uncaught: ${e.message}`));
    return errors;
  }

  it('a deep link asks for sign-in, comes back, and the app routes, calls its API and signs out under the prefix', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const errors = problemsOf(page);
    // Signed out: the app's first API call answers 401 and sends the browser to sign in, back to this page after.
    await page.goto(`${publicUrl}/admin/users`);
    await page.waitForURL((u) => u.pathname === `${PREFIX}/login`);
    expect(new URL(page.url()).searchParams.get('return_to')).toBe(`${PREFIX}/admin/users`);
    await page.fill('#email', ADMIN.email);
    await page.fill('#password', ADMIN.password);
    await Promise.all([page.waitForURL(`${publicUrl}/admin/users`), page.click('button[type=submit]')]);
    await page.getByRole('heading', { level: 1, name: 'Users' }).waitFor();
    await page.getByText(ADMIN.email).first().waitFor();

    await page.getByRole('link', { name: 'Settings' }).click();
    await page.waitForURL(`${publicUrl}/admin/settings`);
    await page.getByText(publicUrl, { exact: false }).first().waitFor();

    await Promise.all([page.waitForURL((u) => u.pathname === `${PREFIX}/login`), page.getByRole('button', { name: 'Sign out' }).click()]);
    // 401s of the signed-out first load are expected; nothing else (no missing asset, no script error).
    expect(errors.filter((e) => !e.includes('status of 401'))).toEqual([]);
    await context.close();
  });
});
