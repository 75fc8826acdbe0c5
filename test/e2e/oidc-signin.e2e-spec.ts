import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { AddressInfo } from 'node:net';
import { join } from 'node:path';
import passport from 'passport';
import { chromium } from 'playwright-core';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { AuditService } from '../../server/src/audit/audit.service';
import { FederatedUsersService } from '../../server/src/identity/federation/federated-users.service';
import { IdentityProvidersService } from '../../server/src/identity/federation/identity-providers.service';
import { GroupsService } from '../../server/src/identity/groups.service';
import { SESSION_COOKIE } from '../../server/src/identity/login-session.service';
import { UsersService } from '../../server/src/identity/users.service';
import { IdTokenTamper, RunningOidcProvider, startOidcProvider } from '../fixtures/oidc-provider';
import { RunningUpstream, startUpstream } from '../fixtures/upstream-mcp-server';
import { BrowserResponse, isRedirect, TestBrowser } from '../helpers/browser';
import { adminApi, signInToConsole } from '../helpers/admin-api';
import { ADMIN, freePort, startTestGateway, TestGateway } from '../helpers/gateway';
import { TestOAuthProvider } from '../helpers/oauth-client';

const CLIENT = { client_id: 'gatehouse', client_secret: 'fixture-client-secret-0123456789abcdef' };
const INVITE_CLIENT = { client_id: 'gatehouse-invite-only', client_secret: 'fixture-invite-secret-0123456789abcdef' };
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const MEMBER_WITH_PASSWORD = { email: 'member@corp.test', password: 'a member password of some length' };

/**
 * Plays the person at the browser: from `start`, follows redirects between the gateway and the provider,
 * clicks "Sign in with Corp SSO" on the gateway's sign-in page, types `login` into the provider's form,
 * approves the gateway's consent page. Stops at a redirect whose Location satisfies `until` (not requested)
 * or at any other page (a refusal, the console).
 */
async function throughProvider(browser: TestBrowser, start: string | URL, login: string, until: (u: URL) => boolean, origins: string[]): Promise<BrowserResponse> {
  let res = await browser.get(start);
  const trail: string[] = [];
  let clicked = false;
  for (let step = 0; step < 25; step++) {
    trail.push(`${res.status} ${res.url}`);
    if (isRedirect(res)) {
      const next = new URL(res.location!);
      if (until(next)) return res;
      if (!origins.includes(next.origin)) throw new Error(`redirected off loopback fixtures to ${next.href}; trail ${trail.join(' -> ')}`);
      res = await browser.get(next);
      continue;
    }
    if (res.status !== 200) return res;
    const button = /<a class="provider" href="([^"]+)">Sign in with Corp SSO<\/a>/.exec(res.body);
    if (button && !clicked) {
      clicked = true;
      res = await browser.get(new URL(button[1].replace(/&amp;/g, '&'), res.url));
      continue;
    }
    const forms = browser.forms(res);
    if (forms.some((f) => f.controls.some((c) => c.name === 'login'))) {
      res = await browser.submit(res, { login, password: 'anything' });
      continue;
    }
    const consent = forms.findIndex((f) => f.buttons.some((b) => b.name === 'decision'));
    if (consent >= 0) {
      res = await browser.submit(res, {}, { formIndex: consent, button: 'decision=approve' });
      continue;
    }
    return res;
  }
  throw new Error(`gave up; trail ${trail.join(' -> ')}`);
}

describe('sign-in through an OpenID Connect provider (a real oidc-provider on loopback)', () => {
  let idp: RunningOidcProvider;
  let upstream: RunningUpstream;
  let gw: TestGateway;
  let base: string;
  let origins: string[];

  beforeAll(async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    idp = await startOidcProvider({
      clients: [
        { ...CLIENT, redirect_uris: [`${base}/login/oidc/corp/callback`] },
        { ...INVITE_CLIENT, redirect_uris: [`${base}/login/oidc/corp-invite/callback`] },
      ],
    });
    upstream = await startUpstream();
    gw = await startTestGateway({
      port,
      config: {
        upstreams: [{ slug: 'eng', name: 'Engineering tools', url: upstream.url, allow: { groups: ['engineering'] } }],
        identity_providers: [
          {
            id: 'corp',
            name: 'Corp SSO',
            issuer: idp.issuer,
            ...CLIENT,
            scopes: ['openid', 'email', 'profile', 'groups'],
            new_users: 'create',
            groups_claim: 'groups',
            allowed_email_domains: ['corp.test'],
          },
          { id: 'corp-invite', name: 'Corp SSO (invited only)', issuer: idp.issuer, ...INVITE_CLIENT, new_users: 'invite_only' },
        ],
        auth: { local_passwords: 'break_glass', break_glass_email: ADMIN.email },
      },
    });
    origins = [base, idp.issuer];
    await gw.app.get(UsersService).create(MEMBER_WITH_PASSWORD);
    await idp.setAccounts({
      alice: { claims: { email: 'alice@corp.test', email_verified: true, name: 'Alice', groups: ['engineering', 'everyone'] } },
      bob: { claims: { email: 'bob@corp.test', email_verified: true, groups: ['sales'] } },
      mallory: { claims: { email: 'member@corp.test', email_verified: false, groups: ['engineering'] } },
      member: { claims: { email: 'member@corp.test', email_verified: true, groups: [] } },
      outsider: { claims: { email: 'eve@elsewhere.test', email_verified: true } },
      gone: { claims: { email: 'gone@corp.test', email_verified: true }, disabled: true },
      dave: { claims: { email: 'dave@corp.test', email_verified: true } },
      carol: { claims: { email: 'carol@corp.test', email_verified: true, name: 'Carol', groups: ['engineering'] } },
      frank: { claims: { email: 'frank@corp.test', email_verified: true } },
      grace: { claims: { email: 'grace@corp.test', email_verified: true, groups: ['engineering', 'handmade'] } },
    });
  });

  afterAll(async () => {
    await gw?.close();
    gw?.cleanup();
    await upstream?.close();
    await idp?.close();
  });

  const refusals = async () => (await gw.app.get(AuditService).list({ type: 'identity.federated.refused', limit: 100 })).map((r) => (r.detail as { reason: string }).reason);

  /** A console sign-in through the provider: the final redirect to the console, or the page it stopped at. */
  const consoleSignIn = (browser: TestBrowser, login: string, provider = 'corp') =>
    throughProvider(browser, `${base}/login/oidc/${provider}?return_to=/admin/`, login, (u) => u.href === `${base}/admin/`, origins);

  it('signs a new user in during an MCP client /authorize: created with the claim groups, and the group allow-list lets them in', async () => {
    const provider = new TestOAuthProvider();
    const first = new StreamableHTTPClientTransport(new URL(gw.mcpUrl('eng')), { authProvider: provider });
    await expect(new Client({ name: 'e2e', version: '0' }).connect(first)).rejects.toBeInstanceOf(UnauthorizedError);
    const browser = new TestBrowser();
    const atClient = await throughProvider(browser, provider.lastAuthorizationUrl!, 'alice', (u) => u.href.startsWith(provider.redirectUrl), origins);
    if (!atClient.location) throw new Error(`stopped at ${atClient.status} ${atClient.url}: ${atClient.body.slice(-600)}`);
    const code = new URL(atClient.location).searchParams.get('code');
    expect(code).toBeTruthy();
    // The gateway's consent came after the provider's sign-in (the consent form was submitted on the gateway).
    expect(browser.history.map((r) => new URL(r.url).pathname)).toEqual(expect.arrayContaining(['/authorize', '/login/oidc/corp', '/login/oidc/corp/callback']));
    await first.finishAuth(code!);
    const client = new Client({ name: 'e2e', version: '0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(gw.mcpUrl('eng')), { authProvider: provider }));
    const echoed = await client.callTool({ name: 'echo', arguments: { text: 'through the provider' } });
    expect(JSON.stringify(echoed.content)).toContain('through the provider');
    await client.close();

    const alice = await gw.app.get(UsersService).findByEmail('alice@corp.test');
    expect(alice).toMatchObject({ role: 'member', passwordHash: null, displayName: 'Alice' });
    const groups = await gw.app.get(GroupsService).groupsOf(alice!.id);
    expect(groups.map((g) => [g.name, g.source])).toEqual([
      ['engineering', 'oidc:corp'],
      ['everyone', 'oidc:corp'],
    ]);
    expect(await gw.app.get(FederatedUsersService).identitiesOf(alice!.id)).toEqual([expect.objectContaining({ provider: 'corp', subject: 'alice', email: 'alice@corp.test' })]);
    // Authorization code with PKCE (S256), state and nonce at the provider.
    const [auth] = (await idp.authorizations()).filter((a) => a.client_id === CLIENT.client_id);
    expect(auth).toMatchObject({ response_type: 'code', code_challenge_method: 'S256', redirect_uri: `${base}/login/oidc/corp/callback`, scope: 'openid email profile groups' });
    expect(auth.state).toBeTruthy();
    expect(auth.nonce).toBeTruthy();
  });

  it('refuses a user whose provider groups are not on the allow-list, and replaces provider groups at each sign-in', async () => {
    const provider = new TestOAuthProvider();
    const first = new StreamableHTTPClientTransport(new URL(gw.mcpUrl('eng')), { authProvider: provider });
    await expect(new Client({ name: 'e2e', version: '0' }).connect(first)).rejects.toBeInstanceOf(UnauthorizedError);
    const denied = await throughProvider(new TestBrowser(), provider.lastAuthorizationUrl!, 'bob', (u) => u.href.startsWith(provider.redirectUrl), origins);
    expect(denied.status).toBe(403);
    expect(denied.body).toContain('Your account (bob@corp.test) is not allowed to use <strong>Engineering tools</strong>');
    const bob = await gw.app.get(UsersService).findByEmail('bob@corp.test');
    expect((await gw.app.get(GroupsService).groupsOf(bob!.id)).map((g) => g.name)).toEqual(['sales']);

    // Alice leaves engineering at the provider: her next sign-in takes her out of the gateway group too.
    await idp.setAccounts({ alice: { claims: { email: 'alice@corp.test', email_verified: true, groups: ['sales'] } } });
    const done = await consoleSignIn(new TestBrowser(), 'alice');
    expect(done.status).toBe(303);
    const alice = await gw.app.get(UsersService).findByEmail('alice@corp.test');
    expect((await gw.app.get(GroupsService).groupsOf(alice!.id)).map((g) => g.name)).toEqual(['sales']);

    // A group made by hand in the console is not the provider's to fill: a claim naming it is skipped.
    await gw.app.get(GroupsService).create('handmade');
    expect((await consoleSignIn(new TestBrowser(), 'grace')).status).toBe(303);
    const grace = (await gw.app.get(UsersService).findByEmail('grace@corp.test'))!;
    expect((await gw.app.get(GroupsService).groupsOf(grace.id)).map((g) => g.name)).toEqual(['engineering']);
    const [synced] = await gw.app.get(AuditService).list({ type: 'identity.federated.groups', limit: 1 });
    expect(synced).toMatchObject({ userId: grace.id, detail: { provider: 'corp', added: ['engineering'], removed: [], skipped: ['handmade'] } });
  });

  it('does not link an existing account when the provider says email_verified is false; links it when true', async () => {
    const browser = new TestBrowser();
    const refused = await consoleSignIn(browser, 'mallory');
    expect(refused.status).toBe(403);
    expect(refused.headers.get('content-type')).toMatch(/text\/html/);
    expect(refused.body).toContain('has not verified the address member@corp.test');
    expect(browser.jar.get(base, SESSION_COOKIE)).toBeUndefined();
    const member = await gw.app.get(UsersService).findByEmail(MEMBER_WITH_PASSWORD.email);
    expect(await gw.app.get(FederatedUsersService).identitiesOf(member!.id)).toEqual([]);
    expect(await refusals()).toContain('email_not_verified');

    // A fresh browser: the provider remembers who signed in there.
    const verified = new TestBrowser();
    const linked = await consoleSignIn(verified, 'member');
    expect(linked.status).toBe(303);
    expect(verified.jar.get(base, SESSION_COOKIE)).toBeTruthy();
    const session = await verified.get(`${base}/admin/api/session`, { accept: 'application/json' });
    expect(JSON.parse(session.body).user.email).toBe(MEMBER_WITH_PASSWORD.email);
    expect(await gw.app.get(FederatedUsersService).identitiesOf(member!.id)).toEqual([expect.objectContaining({ provider: 'corp', subject: 'member' })]);
  });

  it.each<[IdTokenTamper, string, RegExp]>([
    ['audience', 'id_token_aud', /&quot;aud&quot; \(audience\)/],
    ['signature', 'id_token_signature', /JWT signature verification failed/],
    ['expired', 'id_token_exp', /&quot;exp&quot; \(expiration time\)/],
    ['nonce', 'id_token_nonce', /unexpected ID Token &quot;nonce&quot;/],
  ])('refuses an ID token with a bad %s with a clear page', async (mode, reason, says) => {
    await idp.tamper(mode);
    try {
      const browser = new TestBrowser();
      const res = await consoleSignIn(browser, 'alice');
      expect(res.status).toBe(403);
      expect(res.headers.get('content-type')).toMatch(/text\/html/);
      expect(res.body).toContain('Sign-in with Corp SSO refused');
      expect(res.body).toMatch(says);
      expect(res.body).not.toMatch(/ at .*\.(js|ts):\d+/);
      expect(res.body).not.toContain(CLIENT.client_secret);
      expect(browser.jar.get(base, SESSION_COOKIE)).toBeUndefined();
      expect(await refusals()).toContain(reason);
    } finally {
      await idp.tamper('none');
    }
  });

  it('refuses, with a page, a user the provider refuses (disabled there), an email domain not allowed, and an unknown user where invites are required', async () => {
    const disabled = await consoleSignIn(new TestBrowser(), 'gone');
    expect(disabled.status).toBe(403);
    expect(disabled.body).toContain('Corp SSO refused the sign-in');
    expect(await gw.app.get(UsersService).findByEmail('gone@corp.test')).toBeNull();

    const outsider = await consoleSignIn(new TestBrowser(), 'outsider');
    expect(outsider.status).toBe(403);
    expect(outsider.body).toContain('elsewhere.test');
    expect(await gw.app.get(UsersService).findByEmail('eve@elsewhere.test')).toBeNull();

    const uninvited = await consoleSignIn(new TestBrowser(), 'dave', 'corp-invite');
    expect(uninvited.status).toBe(403);
    expect(uninvited.body).toContain('Ask your Gatehouse administrator to invite you');
    expect(await gw.app.get(UsersService).findByEmail('dave@corp.test')).toBeNull();
    // Disabled at the gateway: refused, and not linked.
    const users = gw.app.get(UsersService);
    const frank = await users.create({ email: 'frank@corp.test' });
    await users.setDisabled(frank.id, true);
    const disabledHere = await consoleSignIn(new TestBrowser(), 'frank');
    expect(disabledHere.status).toBe(403);
    expect(disabledHere.body).toContain('Your Gatehouse account is disabled');
    expect(await gw.app.get(FederatedUsersService).identitiesOf(frank.id)).toEqual([]);
    expect(await refusals()).toEqual(expect.arrayContaining(['access_denied', 'email_domain', 'not_invited', 'disabled']));
  });

  it('refuses a callback that is replayed or reaches another browser', async () => {
    const browser = new TestBrowser();
    const done = await consoleSignIn(browser, 'alice');
    expect(done.status).toBe(303);
    const callback = browser.history.find((r) => new URL(r.url).pathname === '/login/oidc/corp/callback')!;
    const replayed = await browser.get(callback.url);
    expect(replayed.status).toBe(400);
    expect(replayed.body).toContain('expired or was started in another browser');
    const stranger = await new TestBrowser().get(callback.url);
    expect(stranger.status).toBe(400);
    expect(stranger.headers.get('set-cookie') ?? '').not.toContain(SESSION_COOKIE);
  });

  it('shows the provider buttons and keeps password sign-in for the break-glass admin only', async () => {
    const browser = new TestBrowser();
    const page = await browser.get(`${base}/login`);
    expect(page.body).toContain('Sign in with Corp SSO');
    expect(page.body).toContain('Sign in with Corp SSO (invited only)');
    const member = await browser.submit(await browser.get(`${base}/login`), MEMBER_WITH_PASSWORD);
    expect(member.status).toBe(403);
    expect(member.body).toContain('Password sign-in is turned off for your account');
    expect(member.body).toContain('Sign in with Corp SSO');
    expect(browser.jar.get(base, SESSION_COOKIE)).toBeUndefined();
    const admin = await browser.submit(await browser.get(`${base}/login`), ADMIN);
    expect(admin.status).toBe(303);
    expect(browser.jar.get(base, SESSION_COOKIE)).toBeTruthy();
  });

  it('shows providers and linked identities in the admin API; a user disabled at the provider is refused at the next sign-in and their grants can be revoked', async () => {
    const admin = adminApi(base, await signInToConsole(base, ADMIN));
    const providers = await admin('GET', '/identity-providers');
    expect(providers.status).toBe(200);
    expect(providers.json.localPasswords).toBe('break_glass');
    expect(providers.json.items[0]).toMatchObject({
      id: 'corp',
      name: 'Corp SSO',
      issuer: idp.issuer,
      clientId: CLIENT.client_id,
      secretSet: true,
      callbackUrl: `${base}/login/oidc/corp/callback`,
    });
    expect(providers.text).not.toContain(CLIENT.client_secret);
    // The effective configuration on the Settings page masks it too.
    const settings = await admin('GET', '/settings');
    expect(settings.json.config.identity_providers[0]).toMatchObject({ id: 'corp', client_secret: '********' });

    // Alice (signed in through the provider in the first test) holds a grant to "eng".
    const alice = (await gw.app.get(UsersService).findByEmail('alice@corp.test'))!;
    const detail = await admin('GET', `/users/${alice.id}`);
    expect(detail.json.identities).toEqual([expect.objectContaining({ provider: 'corp', subject: 'alice', email: 'alice@corp.test' })]);
    expect(detail.json.groups).toEqual([expect.objectContaining({ name: 'sales', source: 'oidc:corp' })]);
    // No password, but signs in through the provider: active, not "invited".
    expect(detail.json.user).toMatchObject({ status: 'active', passwordSet: false });
    expect((await admin('GET', '/users?q=alice%40corp')).json.items).toEqual([expect.objectContaining({ email: 'alice@corp.test', status: 'active' })]);

    await idp.setAccounts({ alice: { claims: { email: 'alice@corp.test', email_verified: true }, disabled: true } });
    const refused = await consoleSignIn(new TestBrowser(), 'alice');
    expect(refused.status).toBe(403);
    expect(refused.body).toContain('Corp SSO refused the sign-in');

    const revoked = await admin('POST', '/grants/revoke', { userId: alice.id });
    expect(revoked.status).toBe(200);
    expect(revoked.json.revoked).toBeGreaterThanOrEqual(1);
    for (const res of admin.seen) expect(res.text).not.toContain(CLIENT.client_secret);
  });

  it('an admin adds a provider in the console: secret write-only and encrypted, config providers read-only, only public addresses by default', async () => {
    const admin = adminApi(base, await signInToConsole(base, ADMIN));
    const secret = 'console-client-secret-0123456789abcdef';
    const created = await admin('POST', '/identity-providers', {
      id: 'lab',
      name: 'Lab SSO',
      issuer: idp.issuer,
      clientId: 'gatehouse-lab',
      clientSecret: secret,
      newUsers: 'create',
    });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({ id: 'lab', source: 'console', secretSet: true, readOnlyReason: null, scopes: ['openid', 'email', 'profile'] });

    const bad = await admin('POST', '/identity-providers', { id: 'Bad Id', name: 'x', issuer: 'not a url', clientId: 'c' });
    expect(bad.status).toBe(400);
    expect(Object.keys(bad.json.fields).sort()).toEqual(['clientSecret', 'id', 'issuer']);
    expect((await admin('POST', '/identity-providers', { id: 'corp', name: 'x', issuer: idp.issuer, clientId: 'c', clientSecret: 's' })).status).toBe(409);
    const readOnly = await admin('PATCH', '/identity-providers/corp', { name: 'Renamed' });
    expect([readOnly.status, readOnly.json.error]).toEqual([409, 'read_only']);

    expect((await new TestBrowser().get(`${base}/login`)).body).toContain('Sign in with Lab SSO');
    // A console provider on loopback: the SSRF guard refuses before any request reaches it.
    const discoveriesBefore = await idp.discoveries();
    const refused = await new TestBrowser().get(`${base}/login/oidc/lab?return_to=/admin/`);
    expect(refused.status).toBe(502);
    expect(refused.body).toContain('Gatehouse could not reach Lab SSO');
    expect(await idp.discoveries()).toBe(discoveriesBefore);
    expect(await refusals()).toContain('provider_unreachable');

    // Write-only: kept when a change leaves it out, never in an answer, encrypted at rest.
    const renamed = await admin('PATCH', '/identity-providers/lab', { name: 'Lab' });
    expect(renamed.json).toMatchObject({ name: 'Lab', secretSet: true });
    const files = ['gatehouse.db', 'gatehouse.db-wal'].map((f) => {
      try {
        return readFileSync(join(gw.dataDir, f)).toString('latin1');
      } catch {
        return '';
      }
    });
    expect(files.join('')).not.toContain(secret);
    for (const res of admin.seen) expect(res.text).not.toContain(secret);

    expect((await admin('DELETE', '/identity-providers/lab')).status).toBe(204);
    expect((await new TestBrowser().get(`${base}/login/oidc/lab`)).status).toBe(404);
    const types = (await gw.app.get(AuditService).list({ limit: 1000 })).map((r) => r.type);
    expect(types).toEqual(expect.arrayContaining(['admin.identity_provider.create', 'admin.identity_provider.update', 'admin.identity_provider.delete']));
  });

  it('in a real browser: an admin adds, edits and deletes a provider on the Settings page; the secret never comes back', async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`no browser at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM_PATH)`);
    const secret = 'typed-in-the-console-0123456789abcdef';
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    try {
      const context = await browser.newContext();
      await context.route('**/*', (route) => (origins.includes(new URL(route.request().url()).origin) ? route.continue() : route.abort()));
      const page = await context.newPage();
      const answers: string[] = [];
      page.on('response', (r) => {
        if (r.url().includes('/admin/api/'))
          void r.text().then(
            (t) => answers.push(t),
            () => undefined,
          );
      });
      await page.goto(`${base}/login`);
      await page.getByText('Administrator sign-in with a password').click();
      await page.fill('#email', ADMIN.email);
      await page.fill('#password', ADMIN.password);
      await Promise.all([page.waitForURL((u) => u.pathname.startsWith('/admin/')), page.click('form[action="/login"] button[type=submit]')]);
      await page.goto(`${base}/admin/settings`);
      const section = page.locator('section', { has: page.getByRole('heading', { name: 'Sign-in' }) });
      await section.getByRole('cell', { name: 'Corp SSO (corp)' }).waitFor();
      await section.getByRole('button', { name: 'Add identity provider' }).click();
      await page.fill('#idp-id', 'ui');
      await page.fill('#idp-name', 'UI SSO');
      await page.fill('#idp-issuer', 'https://sso.ui.example/realms/x');
      await page.fill('#idp-client-id', 'gatehouse-ui');
      await page.fill('#idp-client-secret', secret);
      await page.getByRole('button', { name: 'Save provider' }).click();
      const row = section.getByRole('row', { name: /UI SSO \(ui\)/ });
      await row.getByText('secret set').waitFor();
      await row.getByRole('button', { name: 'Edit' }).click();
      expect(await page.inputValue('#idp-client-secret')).toBe('');
      await page.fill('#idp-name', 'UI SSO renamed');
      await page.getByRole('button', { name: 'Save provider' }).click();
      const renamed = section.getByRole('row', { name: /UI SSO renamed \(ui\)/ });
      await renamed.getByText('secret set').waitFor();
      await renamed.getByRole('button', { name: 'Delete' }).click();
      await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
      await renamed.waitFor({ state: 'detached' });
      expect(await page.content()).not.toContain(secret);
      expect(answers.join('')).not.toContain(secret);
    } finally {
      await browser.close();
    }
    const row = await gw.app.get(IdentityProvidersService).find('ui');
    expect(row).toBeUndefined();
  });

  it('in a real browser (Debian chromium): an MCP client /authorize, "Sign in with Corp SSO", the provider form, the gateway consent, the code', async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`no browser at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM_PATH)`);
    // The MCP client's redirect URI: a loopback server, as a desktop client would run (Playwright does not intercept redirects).
    const clientCallback = http.createServer((_req, res) => res.end('back at the client'));
    await new Promise<void>((r) => clientCallback.listen(0, '127.0.0.1', r));
    const clientOrigin = `http://127.0.0.1:${(clientCallback.address() as AddressInfo).port}`;
    const provider = new TestOAuthProvider({ redirectUrl: `${clientOrigin}/callback` });
    const first = new StreamableHTTPClientTransport(new URL(gw.mcpUrl('eng')), { authProvider: provider });
    await expect(new Client({ name: 'e2e', version: '0' }).connect(first)).rejects.toBeInstanceOf(UnauthorizedError);

    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    try {
      const context = await browser.newContext();
      // Nothing but the loopback fixtures.
      await context.route('**/*', (route) => ([...origins, clientOrigin].includes(new URL(route.request().url()).origin) ? route.continue() : route.abort()));
      const page = await context.newPage();
      await page.goto(provider.lastAuthorizationUrl!.href);
      await Promise.all([page.waitForURL((u) => u.origin === idp.issuer), page.getByRole('link', { name: 'Sign in with Corp SSO', exact: true }).click()]);
      await page.fill('#login', 'carol');
      await page.fill('#password', 'anything');
      await Promise.all([page.waitForURL((u) => u.origin === base && u.pathname === '/authorize'), page.click('button[type=submit]')]);
      await Promise.all([page.waitForURL((u) => u.href.startsWith(provider.redirectUrl)), page.getByRole('button', { name: 'Allow' }).click()]);
      const code = new URL(page.url()).searchParams.get('code');
      expect(code).toBeTruthy();
      await first.finishAuth(code!);
    } finally {
      await browser.close();
      await new Promise<void>((r) => clientCallback.close(() => r()));
    }
    const client = new Client({ name: 'e2e', version: '0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(gw.mcpUrl('eng')), { authProvider: provider }));
    expect(JSON.stringify((await client.callTool({ name: 'echo', arguments: { text: 'from chromium' } })).content)).toContain('from chromium');
    await client.close();
    const carol = (await gw.app.get(UsersService).findByEmail('carol@corp.test'))!;
    expect((await gw.app.get(GroupsService).groupsOf(carol.id)).map((g) => [g.name, g.source])).toEqual([['engineering', 'oidc:corp']]);
  });
});

describe('a provider added in the console, where upstreams_policy.allow_private_networks lets it be on loopback', () => {
  let idp: RunningOidcProvider;
  let gw: TestGateway;
  let other: TestGateway;
  let base: string;
  let otherBase: string;
  const secret = 'lab-client-secret-0123456789abcdef';
  const otherSecret = 'other-gateway-secret-0123456789abcdef';

  beforeAll(async () => {
    const [port, otherPort] = [await freePort(), await freePort()];
    base = `http://127.0.0.1:${port}`;
    otherBase = `http://127.0.0.1:${otherPort}`;
    idp = await startOidcProvider({
      clients: [
        { client_id: 'gatehouse-lab', client_secret: secret, redirect_uris: [`${base}/login/oidc/lab/callback`] },
        { client_id: 'gatehouse-other', client_secret: otherSecret, redirect_uris: [`${otherBase}/login/oidc/lab/callback`] },
      ],
    });
    await idp.setAccounts({ erin: { claims: { email: 'erin@lab.test', email_verified: true, groups: ['lab'] } } });
    gw = await startTestGateway({ port, config: { upstreams_policy: { allow_private_networks: true } } });
    // A second gateway in the same process with a provider of the same id (from its config file).
    other = await startTestGateway({
      port: otherPort,
      config: { identity_providers: [{ id: 'lab', name: 'Other lab', issuer: idp.issuer, client_id: 'gatehouse-other', client_secret: otherSecret, new_users: 'create' }] },
    });
  });
  afterAll(async () => {
    await gw?.close();
    gw?.cleanup();
    await other?.close();
    other?.cleanup();
    await idp?.close();
  });

  const signIn = (at: string) => throughProvider(new TestBrowser(), `${at}/login/oidc/lab?return_to=/admin/`, 'erin', (u) => u.href === `${at}/admin/`, [at, idp.issuer]);

  it('signs in with the secret from the vault; two gateways in one process each keep their own "oidc:lab" strategy', async () => {
    const admin = adminApi(base, await signInToConsole(base, ADMIN));
    const created = await admin('POST', '/identity-providers', {
      id: 'lab',
      name: 'Lab SSO',
      issuer: idp.issuer,
      clientId: 'gatehouse-lab',
      clientSecret: secret,
      newUsers: 'create',
      scopes: ['openid', 'email', 'groups'],
    });
    expect(created.status).toBe(201);
    expect((await signIn(base)).status).toBe(303);
    const erin = (await gw.app.get(UsersService).findByEmail('erin@lab.test'))!;
    expect((await gw.app.get(GroupsService).groupsOf(erin.id)).map((g) => [g.name, g.source])).toEqual([['lab', 'oidc:lab']]);

    // The other gateway builds its own strategy of the same name; the first one's still answers for the first.
    expect((await signIn(otherBase)).status).toBe(303);
    const again = await signIn(base);
    expect(again.status).toBe(303);
    expect((passport as unknown as { _strategies: Record<string, unknown> })._strategies['oidc:lab']).toBeUndefined();
  });

  it('a changed client secret applies at once', async () => {
    const admin = adminApi(base, await signInToConsole(base, ADMIN));
    expect((await admin('PATCH', '/identity-providers/lab', { clientSecret: 'a-wrong-secret-0123456789' })).status).toBe(200);
    const refused = await signIn(base);
    expect(refused.status).toBe(502);
    expect(refused.body).toContain('the client id or secret may be wrong');
  });
});
