import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js';
import type { FetchLike } from '@modelcontextprotocol/sdk/shared/transport.js';
import { Browser, BrowserContext, chromium, Locator, Page } from 'playwright-core';
import { startUpstream, RunningUpstream } from '../fixtures/upstream-mcp-server';
import { ADMIN, startTestGateway, TestGateway } from '../helpers/gateway';
import { TestOAuthProvider } from '../helpers/oauth-client';

/**
 * The admin console's whole story in a real browser (Debian's chromium driven by playwright-core),
 * against a real gateway and a real MCP upstream built with the SDK, with the real SDK client:
 *
 *   the admin invites a member and copies the link → the member sets a password → the admin adds
 *   an upstream, tests it, makes a group with the member and allows the group → the member's MCP
 *   client goes through OAuth (consent in the member's browser) and calls a tool → the member sees
 *   the grant on "My access" → the admin revokes it on Grants → the client's next call gets 401 →
 *   the audit log filtered to the member shows the revocation, and so does its CSV export.
 *
 * Each step is one test and they run in order, sharing the two browser profiles (admin, member).
 * Every page the scenario visits is written at desktop and phone width to test-results/scenario/.
 */

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ROOT = join(__dirname, '..', '..');
const OUT = join(ROOT, 'test-results', 'scenario');
const DESKTOP = { name: 'desktop', width: 1280, height: 800 };
const PHONE = { name: 'phone', width: 390, height: 844 };
const MEMBER = { email: 'dana.member@example.test', name: 'Dana Member', password: 'a member password of some length' };
const UPSTREAM = { slug: 'tools', name: 'Team tools' };
const GROUP = 'scenario-team';
const CLIENT_NAME = 'Scenario Agent';

/** One HTTP exchange of the MCP client (its MCP calls and its OAuth calls alike). */
interface Exchange {
  method: string;
  url: string;
  /** The bearer token sent, if any. */
  token: string | null;
  /** A POST's JSON-RPC body. */
  body: string | null;
  status: number;
  wwwAuthenticate: string | null;
}

/**
 * Chromium logs every 4xx/5xx answer to a fetch() as a console error ("Failed to load resource");
 * each answer the scenario provokes on purpose is listed here, with why. Anything else (script
 * errors, CSP refusals, other failed answers) fails the scenario.
 */
const EXPECTED_FAILED_LOADS: { why: string; page: 'admin' | 'member'; status: number; path: string }[] = [
  {
    why: 'the admin opens /admin/ before signing in: the console asks who is signed in, and the 401 sends it to /login',
    page: 'admin',
    status: 401,
    path: '/admin/api/session',
  },
];

/**
 * RFC 4180 records (quoted fields with doubled quotes, commas and line breaks inside quotes, CRLF
 * between records). Hand-written: no CSV library is among the project's dependencies, and the
 * export's detail column (JSON) holds commas and quotes that a split(',') would cut.
 */
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let field = '';
  let quoted = false;
  const endField = () => {
    record.push(field);
    field = '';
  };
  const endRecord = () => {
    endField();
    records.push(record);
    record = [];
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted && c === '"' && text[i + 1] === '"') {
      field += '"';
      i++;
    } else if (c === '"') {
      quoted = !quoted;
    } else if (!quoted && c === ',') {
      endField();
    } else if (!quoted && c === '\r' && text[i + 1] === '\n') {
      endRecord();
      i++;
    } else {
      field += c;
    }
  }
  if (field || record.length) endRecord();
  return records;
}

/** The loopback listener a native OAuth client opens for its redirect URI (RFC 8252 §7.3). */
interface CallbackListener {
  url: string;
  /** The first request's URL (with code, state, iss). */
  received: Promise<URL>;
  close(): Promise<void>;
}

async function startCallbackListener(): Promise<CallbackListener> {
  let resolve!: (u: URL) => void;
  const received = new Promise<URL>((r) => (resolve = r));
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', `http://${req.headers.host}`);
    if (url.pathname !== '/callback') return void res.writeHead(404).end();
    resolve(url);
    res
      .writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
      .end('<!doctype html><link rel="icon" href="data:,"><title>Signed in</title><p>You can close this window.</p>');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/callback`,
    received,
    close: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))),
  };
}

describe('console scenario: invite → upstream → group → OAuth → grant → revoke → audit (Debian chromium)', () => {
  let upstream: RunningUpstream;
  let gw: TestGateway;
  let base: string;
  let browser: Browser;
  let admin: { context: BrowserContext; page: Page };
  let member: { context: BrowserContext; page: Page };
  const consoleErrors: { page: string; text: string }[] = [];
  let shots = 0;

  // What the steps hand on to each other.
  let inviteUrl: string;
  let memberId: string;
  const exchanges: Exchange[] = [];
  let provider: TestOAuthProvider;
  let mcp: Client;
  let issued: OAuthTokens;
  let callback: CallbackListener;

  beforeAll(async () => {
    if (!existsSync(join(ROOT, 'dist', 'web', 'index.html'))) throw new Error('dist/web is missing: run `npm run build:web` (npm test does it first)');
    if (!existsSync(CHROMIUM)) throw new Error(`no browser at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM_PATH)`);
    rmSync(OUT, { recursive: true, force: true });
    mkdirSync(OUT, { recursive: true });
    upstream = await startUpstream();
    // The upstream is added in the console, and it listens on loopback: console upstreams are held
    // to the SSRF guard unless the operator lets them be on private networks.
    gw = await startTestGateway({ config: { upstreams_policy: { allow_private_networks: true } } });
    base = gw.config.publicUrl;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    admin = await profile('admin');
    member = await profile('member');
  });

  afterAll(async () => {
    await mcp?.close().catch(() => undefined);
    await callback?.close();
    await browser?.close();
    await gw?.close();
    await upstream?.close();
    gw?.cleanup();
  });

  /**
   * One step of the story. The steps build on each other: once one fails, the later ones fail at
   * once (naming the step that broke) instead of each waiting out its timeouts.
   */
  let broken: string | null = null;
  function step(name: string, fn: () => Promise<void>): void {
    it(name, async () => {
      if (broken) throw new Error(`not run: the earlier step "${broken}" failed`);
      try {
        await fn();
      } catch (err) {
        broken = name;
        throw err;
      }
    });
  }

  /** A fresh browser profile whose console errors are collected. */
  async function profile(who: 'admin' | 'member'): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext({ viewport: { width: DESKTOP.width, height: DESKTOP.height } });
    context.setDefaultTimeout(15_000);
    const page = await context.newPage();
    page.on('console', (m) => {
      if (m.type() !== 'error') return;
      const status = Number(/^Failed to load resource: the server responded with a status of (\d{3})/.exec(m.text())?.[1]);
      const path = m.location().url ? new URL(m.location().url).pathname : '';
      if (EXPECTED_FAILED_LOADS.some((e) => e.page === who && e.status === status && e.path === path)) return;
      consoleErrors.push({ page: who, text: `${m.text()} (${m.location().url})` });
    });
    page.on('pageerror', (e) => consoleErrors.push({ page: who, text: `uncaught: ${e.message}` }));
    return { context, page };
  }

  /** Until nothing on a console page is still loading (server-rendered pages are whole at once). */
  async function settled(page: Page): Promise<void> {
    if (!new URL(page.url()).pathname.startsWith('/admin/')) return;
    await page.locator('main').waitFor();
    await page.locator('.state.loading').first().waitFor({ state: 'detached' });
  }

  /** The page as it is now, at desktop and at phone width; nothing may be wider than the screen. */
  async function snap(page: Page, name: string): Promise<void> {
    await settled(page);
    const n = String(++shots).padStart(2, '0');
    for (const viewport of [DESKTOP, PHONE]) {
      await page.setViewportSize({ width: viewport.width, height: viewport.height });
      // Tables scroll inside their own box; the page itself never scrolls sideways.
      expect({ page: `${name} at ${viewport.name} width`, sticksOut: await widerThanScreen(page) }).toEqual({ page: `${name} at ${viewport.name} width`, sticksOut: [] });
      await page.screenshot({ path: join(OUT, `${n}-${name}-${viewport.name}.png`), fullPage: true });
    }
    await page.setViewportSize({ width: DESKTOP.width, height: DESKTOP.height });
  }

  /**
   * Nothing when the page fits the screen's width (a table scrolling inside its own box is fine);
   * else the innermost elements reaching past its right edge, to say what to fix.
   */
  async function widerThanScreen(page: Page): Promise<string[]> {
    return page.evaluate(() => {
      const doc = (globalThis as any).document;
      const width = doc.documentElement.clientWidth;
      if (doc.documentElement.scrollWidth <= width) return [];
      const all: any[] = Array.from(doc.body.querySelectorAll('*'));
      const out = all.filter(
        (el) => el.getBoundingClientRect().right > width + 0.5 && !all.some((child) => child.parentElement === el && child.getBoundingClientRect().right > width + 0.5),
      );
      const name = (el: any) => `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}${el.classList.length ? `.${Array.from(el.classList).join('.')}` : ''}`;
      return out.slice(0, 5).map((el) => `${name(el.parentElement)} > ${name(el)}: ${JSON.stringify((el.textContent ?? '').trim().slice(0, 40))}`);
    });
  }

  /** Follows a link of the console's navigation, as a person would. */
  async function openFromNav(page: Page, label: string): Promise<void> {
    await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: label, exact: true }).click();
    await page.getByRole('heading', { level: 1, name: label, exact: true }).waitFor();
    await settled(page);
  }

  /** The table row that holds all these texts. */
  function row(within: Page | Locator, ...texts: string[]): Locator {
    return texts.reduce((rows, text) => rows.filter({ hasText: text }), within.getByRole('row'));
  }

  /** The MCP client's fetch: the real one, with every answer noted (status and challenge). */
  const recordingFetch: FetchLike = async (url, init) => {
    const res = await fetch(url, init);
    exchanges.push({
      method: init?.method ?? 'GET',
      url: String(url),
      token: /^Bearer (.+)$/.exec(new Headers(init?.headers).get('authorization') ?? '')?.[1] ?? null,
      body: typeof init?.body === 'string' ? init.body : null,
      status: res.status,
      wwwAuthenticate: res.headers.get('www-authenticate'),
    });
    return res;
  };

  step('the admin signs in through the real /login form and lands on the dashboard', async () => {
    const { page } = admin;
    await page.goto(`${base}/admin/`);
    await page.waitForURL((u) => u.pathname === '/login');
    await snap(page, 'login');
    await page.getByLabel('Email').fill(ADMIN.email);
    await page.getByLabel('Password').fill(ADMIN.password);
    await Promise.all([page.waitForURL(`${base}/admin/dashboard`), page.getByRole('button', { name: 'Sign in' }).click()]);
    await page.getByRole('heading', { level: 1, name: 'Dashboard' }).waitFor();
    await snap(page, 'admin-dashboard');
  });

  step('the admin invites a member and copies the invite link', async () => {
    const { page, context } = admin;
    await openFromNav(page, 'Users');
    await page.getByRole('button', { name: 'Invite user' }).click();
    const invite = page.getByRole('region', { name: 'Invite a user' });
    await invite.getByLabel('Email').fill(MEMBER.email);
    await invite.getByLabel('Name').fill(MEMBER.name);
    await invite.getByLabel('Role').selectOption({ label: 'Member — uses MCP servers' });
    await invite.getByRole('button', { name: 'Create invitation' }).click();
    await page.getByText(`Invitation created for ${MEMBER.email}`).waitFor();
    // The new user is in the list, still to set a password.
    await row(page, MEMBER.email, 'Invited').waitFor();
    await snap(page, 'users-invited');

    // "Copy" puts the link on the clipboard (127.0.0.1 is a secure context: the Clipboard API).
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
    await page.getByRole('button', { name: 'Copy', exact: true }).click();
    await page
      .getByRole('status')
      .filter({ hasText: /^Copied$/ })
      .waitFor();
    // (Runs in the page; `navigator` is the browser's.)
    inviteUrl = await page.evaluate(() => (globalThis as unknown as { navigator: { clipboard: { readText(): Promise<string> } } }).navigator.clipboard.readText());
    expect(inviteUrl).toMatch(new RegExp(`^${base.replace(/[.]/g, '\\.')}/invite/[A-Za-z0-9_-]+$`));
    expect(await page.getByLabel('Link').inputValue()).toBe(inviteUrl);

    await page.getByRole('link', { name: MEMBER.email }).click();
    await page.getByRole('heading', { level: 1, name: MEMBER.email }).waitFor();
    memberId = decodeURIComponent(new URL(page.url()).pathname.split('/').pop()!);
    await snap(page, 'user-detail');
  });

  step('the member opens the link, sets a password and lands on "My access"', async () => {
    const { page } = member;
    await page.goto(inviteUrl);
    await page.getByRole('heading', { name: 'Welcome to Gatehouse' }).waitFor();
    await snap(page, 'invite-set-password');
    await page.getByLabel('New password').fill(MEMBER.password);
    await page.getByLabel('Repeat the password').fill(MEMBER.password);
    await Promise.all([page.waitForURL(`${base}/admin/me`), page.getByRole('button', { name: 'Set password and sign in' }).click()]);
    await page.getByRole('heading', { level: 1, name: 'My access' }).waitFor();
    await page.getByText(`Signed in as ${MEMBER.email}`).waitFor();
    await snap(page, 'member-my-access-new');

    // The link is spent: opening it again says so instead of offering the form.
    const again = await member.context.newPage();
    const res = await again.goto(inviteUrl);
    expect(res?.status()).toBe(410);
    await again.getByRole('heading', { name: 'This link cannot be used' }).waitFor();
    await again.close();
  });

  step('the admin adds the upstream in the console and tests its connection: the upstream’s tools are listed', async () => {
    const { page } = admin;
    await openFromNav(page, 'Upstreams');
    await page.getByRole('link', { name: 'Add upstream', exact: true }).first().click();
    await page.getByRole('heading', { level: 1, name: 'Add upstream' }).waitFor();
    await settled(page);
    await page.getByLabel('Slug').fill(UPSTREAM.slug);
    await page.getByLabel('Name').fill(UPSTREAM.name);
    await page.getByLabel('Upstream URL').fill(upstream.url);
    await page.getByLabel('Auth mode').selectOption({ label: 'No credential' });
    await snap(page, 'upstream-new');
    await Promise.all([page.waitForURL(`${base}/admin/upstreams/${UPSTREAM.slug}`), page.getByRole('button', { name: 'Add upstream', exact: true }).click()]);
    await page.getByRole('heading', { level: 1, name: UPSTREAM.name }).waitFor();
    await settled(page);
    expect(await page.getByLabel('MCP URL (what clients connect to)').inputValue()).toBe(gw.mcpUrl(UPSTREAM.slug));

    await page.getByRole('button', { name: 'Test connection' }).click();
    await page.getByText('Connected.').waitFor();
    await page.getByText('gatehouse-test-upstream 1.0.0 speaks MCP').waitFor();
    const tools = page.locator('.tools-list .tool-name');
    expect((await tools.allTextContents()).sort()).toEqual(['big', 'count', 'echo', 'whoami']);
    await snap(page, 'upstream-tested');
  });

  step('the admin creates a group, adds the member, and allows the group on the upstream', async () => {
    const { page } = admin;
    await openFromNav(page, 'Groups');
    await page.getByRole('button', { name: 'New group' }).click();
    await page.getByLabel('Name').fill(GROUP);
    await page.getByRole('button', { name: 'Create group' }).click();
    await page.getByRole('link', { name: GROUP, exact: true }).click();
    await page.getByRole('heading', { level: 1, name: GROUP }).waitFor();
    await settled(page);

    await page.getByLabel('Add a member').fill('dana');
    await page.getByRole('button', { name: `Add ${MEMBER.email}` }).click();
    await page.getByRole('heading', { name: 'Members (1)' }).waitFor();
    await row(page, MEMBER.email, MEMBER.name).waitFor();
    await snap(page, 'group-with-member');

    await openFromNav(page, 'Upstreams');
    await page.getByRole('link', { name: UPSTREAM.name }).click();
    await page.getByRole('heading', { level: 1, name: UPSTREAM.name }).waitFor();
    await settled(page);
    // Empty, the allow-list admits everyone; the group narrows it to its members.
    await page.getByText('every gateway user').waitFor();
    await page.getByLabel('Groups', { exact: true }).fill(GROUP);
    await page.getByRole('button', { name: 'Add to Groups' }).click();
    await page.getByRole('button', { name: 'Save allow-list' }).click();
    await page.getByText('Allow-list saved.').waitFor();
    await page.getByText('every gateway user').waitFor({ state: 'detached' });

    // Saved on the gateway, not just on the page.
    await page.reload();
    await page.getByRole('heading', { level: 1, name: UPSTREAM.name }).waitFor();
    await settled(page);
    await page.getByRole('button', { name: `Remove ${GROUP}` }).waitFor();
    await snap(page, 'upstream-allow-list');
  });

  step('the member’s MCP SDK client completes the OAuth flow (consent in the member’s browser) and calls a tool', async () => {
    const mcpUrl = gw.mcpUrl(UPSTREAM.slug);
    // Like a desktop MCP client: it listens on loopback for the browser to bring the code back.
    callback = await startCallbackListener();
    provider = new TestOAuthProvider({ clientName: CLIENT_NAME, redirectUrl: callback.url });
    const clientInfo = { name: 'scenario-agent', version: '1.0.0' };

    // Unauthenticated: the SDK discovers the gateway, registers, and asks to send the user to /authorize.
    const first = new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider, fetch: recordingFetch });
    const firstClient = new Client(clientInfo);
    await expect(firstClient.connect(first)).rejects.toBeInstanceOf(UnauthorizedError);
    await firstClient.close().catch(() => undefined);
    const authorizationUrl = provider.lastAuthorizationUrl!;
    expect(authorizationUrl.origin).toBe(base);

    // The member's browser is signed in (the invite did it): the consent page comes straight away.
    const { page } = member;
    await page.goto(authorizationUrl.href);
    await page.getByRole('heading', { name: 'Allow access?' }).waitFor();
    await page.getByText(`${CLIENT_NAME} wants to use ${UPSTREAM.name} through Gatehouse as ${MEMBER.email}`).waitFor();
    await snap(page, 'consent');
    await Promise.all([page.waitForURL((u) => u.href.startsWith(callback.url)), page.getByRole('button', { name: 'Allow', exact: true }).click()]);
    await page.getByText('You can close this window.').waitFor();
    const back = await callback.received;
    expect(back.searchParams.get('state')).toBe(authorizationUrl.searchParams.get('state'));
    expect(back.searchParams.get('iss')).toBe(base);
    const code = back.searchParams.get('code');
    expect(code).toEqual(expect.any(String));

    await first.finishAuth(code!);
    const transport = new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider, fetch: recordingFetch });
    mcp = new Client(clientInfo);
    await mcp.connect(transport);
    expect(mcp.getServerVersion()?.name).toBe('gatehouse-test-upstream');
    const result = await mcp.callTool({ name: 'echo', arguments: { text: 'hello through the gateway' } });
    expect(result.content).toEqual([{ type: 'text', text: 'hello through the gateway' }]);
    issued = provider.tokens()!;
    expect(issued).toEqual(expect.objectContaining({ access_token: expect.any(String), refresh_token: expect.any(String) }));
    await page.goto(`${base}/admin/me`);
  });

  step('the member sees the grant on "My access"', async () => {
    const { page } = member;
    await page.getByRole('heading', { level: 1, name: 'My access' }).waitFor();
    await settled(page);
    await page.getByRole('heading', { level: 3, name: UPSTREAM.name }).waitFor();
    expect(await page.getByLabel('MCP URL', { exact: true }).inputValue()).toBe(gw.mcpUrl(UPSTREAM.slug));
    const grant = row(page.getByRole('region', { name: 'Connected applications' }), CLIENT_NAME, UPSTREAM.name);
    await grant.waitFor();
    await grant.getByText('Active', { exact: true }).waitFor();
    await snap(page, 'member-my-access-grant');
  });

  step('the admin finds the grant on Grants and revokes it', async () => {
    const { page } = admin;
    await openFromNav(page, 'Grants');
    const grant = row(page, MEMBER.email, CLIENT_NAME, UPSTREAM.name);
    await grant.getByText('Active', { exact: true }).waitFor();
    await snap(page, 'grants-active');
    await grant.getByRole('button', { name: 'Revoke' }).click();
    const dialog = page.getByRole('dialog', { name: 'Revoke this grant?' });
    await dialog.getByText(`${CLIENT_NAME} loses access to ${UPSTREAM.name} for ${MEMBER.email} at once.`).waitFor();
    await snap(page, 'grants-revoke-confirm');
    await dialog.getByRole('button', { name: 'Revoke' }).click();
    await page.getByText('Grant revoked.').waitFor();
    await grant.getByText('Revoked', { exact: true }).waitFor();
    await grant.getByRole('button', { name: 'Revoke' }).waitFor({ state: 'detached' });
    await snap(page, 'grants-revoked');
  });

  step('the client’s next MCP call gets 401 (its token: invalid_token), and its refresh token is refused too', async () => {
    const mcpUrl = gw.mcpUrl(UPSTREAM.slug);
    const before = exchanges.length;
    // The SDK meets the 401, tries its refresh token (refused: the grant is gone) and then asks
    // for the user again, which it reports as UnauthorizedError.
    await expect(mcp.callTool({ name: 'echo', arguments: { text: 'still there?' } })).rejects.toBeInstanceOf(UnauthorizedError);
    const since = exchanges.slice(before);
    const toolCall = since.find((e) => e.method === 'POST' && e.url === mcpUrl && e.body?.includes('still there?'));
    expect(toolCall?.status).toBe(401);
    // The revoked token is refused as such (RFC 6750 §3.1). Which request carries it first is a
    // race: the SDK also reopens its event stream (GET) on its own once the revocation ended it.
    const withRevokedToken = since.filter((e) => e.url === mcpUrl && e.token === issued.access_token);
    expect(withRevokedToken.length).toBeGreaterThan(0);
    for (const e of withRevokedToken) expect(e).toEqual(expect.objectContaining({ status: 401, wwwAuthenticate: expect.stringMatching(/^Bearer .*error="invalid_token"/) }));
    expect(since.filter((e) => e.url === mcpUrl && e.status < 400)).toEqual([]);

    // The refresh token died with the grant.
    const refresh = await fetch(`${base}/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: issued.refresh_token!, client_id: provider.clientInformation()!.client_id }),
    });
    expect({ status: refresh.status, body: await refresh.json() }).toEqual({ status: 400, body: expect.objectContaining({ error: 'invalid_grant' }) });
  });

  step('the member sees the grant revoked on "My access"', async () => {
    const { page } = member;
    await page.reload();
    await page.getByRole('heading', { level: 1, name: 'My access' }).waitFor();
    await settled(page);
    await row(page, CLIENT_NAME, UPSTREAM.name).getByText('Revoked', { exact: true }).waitFor();
    await snap(page, 'member-my-access-revoked');
  });

  step('a member who opens an admin page is told clearly it is not theirs', async () => {
    const { page } = member;
    for (const path of ['/admin/users', '/admin/grants', '/admin/upstreams/+new']) {
      await page.goto(`${base}${path}`);
      await page.getByRole('heading', { name: "You don't have access to this page" }).waitFor();
      await page.getByRole('alert').filter({ hasText: 'Ask a Gatehouse administrator' }).waitFor();
    }
    await page.getByRole('link', { name: 'Go to My access' }).waitFor();
    expect(await page.locator('#main-nav ul a').allTextContents()).toEqual(['My access']);
    await snap(page, 'member-refused');
  });

  step('the audit log, filtered to the member, shows the revocation; its CSV export holds it', async () => {
    const { page } = admin;
    await openFromNav(page, 'Audit log');
    // A click on the member in the revocation's row narrows the log to them.
    const revocation = row(page, 'grant.revoke', MEMBER.email);
    await revocation.first().waitFor();
    await revocation.first().getByRole('button', { name: MEMBER.email }).click();
    await page.waitForURL((u) => u.searchParams.get('userId') === memberId);
    await settled(page);
    await page.getByText(`Filtered by User: ${memberId}`).waitFor();
    expect(await row(page, 'grant.revoke', MEMBER.email).count()).toBe(1);
    // Every row left is the member's.
    const rowsShown = await page.locator('table.audit tbody tr td:nth-child(4)').allTextContents();
    expect(rowsShown.length).toBeGreaterThan(1);
    expect(new Set(rowsShown.map((u) => u.trim()))).toEqual(new Set([MEMBER.email]));
    await snap(page, 'audit-member');

    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Export CSV' }).click()]);
    expect(download.suggestedFilename()).toMatch(/^gatehouse-audit-.*\.csv$/);
    const csv = readFileSync(await download.path(), 'utf8');
    const [header, ...records] = parseCsv(csv);
    const at = (record: string[], column: string) => record[header.indexOf(column)];
    expect(header).toEqual(expect.arrayContaining(['type', 'outcome', 'user_id', 'user_email', 'upstream_slug', 'detail']));
    const revokes = records.filter((r) => at(r, 'type') === 'grant.revoke');
    expect(revokes).toHaveLength(1);
    const [revoke] = revokes;
    expect({ user: at(revoke, 'user_id'), email: at(revoke, 'user_email'), outcome: at(revoke, 'outcome'), upstream: at(revoke, 'upstream_slug') }).toEqual({
      user: memberId,
      email: MEMBER.email,
      outcome: 'success',
      upstream: UPSTREAM.slug,
    });
    expect(JSON.parse(at(revoke, 'detail'))).toEqual(expect.objectContaining({ grant_id: expect.any(String) }));
    // The export is the filtered view: the page's rows (and any written since), nobody else's.
    expect(records.length).toBeGreaterThanOrEqual(rowsShown.length);
    expect(new Set(records.map((r) => at(r, 'user_id')))).toEqual(new Set([memberId]));
  });

  it('no page logged a console error or threw, apart from the answers listed in EXPECTED_FAILED_LOADS', () => {
    expect(consoleErrors).toEqual([]);
  });
});
