import { DataSource } from 'typeorm';
import { AuditService } from '../../server/src/audit/audit.service';
import { sha256 } from '../../server/src/common/crypto';
import { UsersService } from '../../server/src/identity/users.service';
import { startUpstream, RunningUpstream } from '../fixtures/upstream-mcp-server';
import { adminApi, AdminCall, allPages, consoleSessionOf, ConsoleSession, signInToConsole } from '../helpers/admin-api';
import { TestBrowser } from '../helpers/browser';
import { ADMIN, startTestGateway, TestGateway } from '../helpers/gateway';
import { call, HttpResult, initializeRequest, mcpPost, obtainCode, pkce, registerPublicClient, tokenRequest } from '../helpers/raw-oauth';

const REDIRECT = 'http://127.0.0.1:7791/cb';

/** Opens a GET stream and resolves once the gateway ends it, however it ends (body done, connection cut). */
async function streamUntilClosed(url: string, headers: Record<string, string>): Promise<void> {
  try {
    const res = await fetch(url, { headers });
    const reader = res.body!.getReader();
    while (!(await reader.read()).done);
  } catch {
    /* cut off: closed too */
  }
}

/** 'closed' if the stream ends within ms, else 'still open' (a bounded wait, not a timing assertion). */
async function settledWithin(stream: Promise<void>, ms: number): Promise<'closed' | 'still open'> {
  let timer: NodeJS.Timeout | undefined;
  const open = new Promise<'still open'>((resolve) => (timer = setTimeout(() => resolve('still open'), ms)));
  try {
    return await Promise.race([stream.then(() => 'closed' as const), open]);
  } finally {
    clearTimeout(timer);
  }
}
const PASSWORD = 'a perfectly long password';

describe('admin API: session, users, invites', () => {
  let upstream: RunningUpstream;
  let gw: TestGateway;
  let base: string;
  let admin: ConsoleSession;
  let api: AdminCall;
  /** Every invite/reset link handed out, to check none leaks anywhere else. */
  const links: string[] = [];

  /** Creates a user by invite and sets their password through the link; returns the user and a signed-in console session. */
  async function onboard(email: string, role = 'member'): Promise<{ id: string; session: ConsoleSession; creds: { email: string; password: string } }> {
    const created = await api('POST', '/users', { email, name: email.split('@')[0], role });
    expect(created.status).toBe(201);
    links.push(created.json.inviteUrl);
    const browser = new TestBrowser();
    const done = await browser.submit(await browser.get(created.json.inviteUrl), { password: PASSWORD, confirm: PASSWORD });
    expect(done.status).toBe(303);
    return { id: created.json.user.id, session: await consoleSessionOf(base, browser), creds: { email, password: PASSWORD } };
  }

  async function signInStatus(creds: { email: string; password: string }): Promise<number> {
    const browser = new TestBrowser();
    return (await browser.submit(await browser.get(`${base}/login`), creds)).status;
  }

  async function accessToken(creds: { email: string; password: string }): Promise<string> {
    const client = await registerPublicClient(base, REDIRECT);
    const { verifier, challenge } = pkce();
    const code = await obtainCode(base, new TestBrowser(), creds, { clientId: client.client_id, redirectUri: REDIRECT, challenge });
    const res = await tokenRequest(base, { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT, client_id: client.client_id });
    return res.json.access_token;
  }

  beforeAll(async () => {
    upstream = await startUpstream();
    gw = await startTestGateway({ config: { upstreams: [{ slug: 'u', url: upstream.url }] } });
    base = gw.config.publicUrl;
    admin = await signInToConsole(base, ADMIN);
    api = adminApi(base, admin);
  });
  afterAll(async () => {
    await gw.close();
    await upstream.close();
    gw.cleanup();
  });

  describe('GET /admin/api/session', () => {
    it('says who is signed in and gives the CSRF token, members too', async () => {
      expect(admin.user).toEqual({ id: expect.any(String), email: ADMIN.email, name: null, role: 'admin' });
      expect(admin.csrfToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
      const member = await onboard('session-member@example.test');
      expect(member.session.user).toMatchObject({ email: 'session-member@example.test', role: 'member' });
      expect(member.session.csrfToken).not.toBe(admin.csrfToken);
    });

    it('401 {"error":"unauthorized"} without a session, and uncacheable with one', async () => {
      const anonymous = await adminApi(base, null)('GET', '/session');
      expect(anonymous.status).toBe(401);
      expect(anonymous.json).toEqual({ error: 'unauthorized' });
      const res = await api('GET', '/session');
      expect(res.headers.get('cache-control')).toBe('no-store');
    });
  });

  describe('who may call the users API', () => {
    let member: ConsoleSession;
    let auditor: ConsoleSession;
    beforeAll(async () => {
      member = (await onboard('plain-member@example.test')).session;
      auditor = (await onboard('auditor@example.test', 'auditor')).session;
    });

    it.each([
      ['GET', '/users'],
      ['GET', '/users/some-id'],
      ['POST', '/users'],
      ['PATCH', '/users/some-id'],
      ['POST', '/users/some-id/disable'],
      ['DELETE', '/users/some-id'],
      ['POST', '/me/password'],
    ])('%s %s without a session → 401', async (method, path) => {
      const res = await adminApi(base, null)(method, path, method === 'GET' ? undefined : {});
      expect(res.status).toBe(401);
      expect(res.json).toEqual({ error: 'unauthorized' });
      expect(res.headers.get('www-authenticate')).toMatch(/^Cookie /);
    });

    it.each([
      ['GET', '/users'],
      ['POST', '/users'],
      ['POST', '/users/some-id/reset-password'],
      ['DELETE', '/users/some-id'],
    ])('a member gets 403 {"error":"forbidden"} on %s %s', async (method, path) => {
      const res = await adminApi(base, member)(method, path, method === 'GET' ? undefined : { email: 'x@example.test' });
      expect(res.status).toBe(403);
      expect(res.json).toEqual({ error: 'forbidden' });
    });

    it('an auditor reads users but changes nothing', async () => {
      const auditorApi = adminApi(base, auditor);
      expect((await auditorApi('GET', '/users')).status).toBe(200);
      expect((await auditorApi('GET', `/users/${admin.user.id}`)).status).toBe(200);
      const create = await auditorApi('POST', '/users', { email: 'by-auditor@example.test' });
      expect(create.status).toBe(403);
      expect(create.json).toEqual({ error: 'forbidden' });
      expect((await auditorApi('PATCH', `/users/${auditor.user.id}`, { role: 'admin' })).status).toBe(403);
    });
  });

  describe('CSRF on every state-changing call', () => {
    it.each([
      ['no X-CSRF-Token header', {}],
      ['a wrong token', { 'X-CSRF-Token': 'made-up' }],
      ['an empty token', { 'X-CSRF-Token': '' }],
    ])('%s → 403 {"error":"csrf"}, and nothing happens', async (_name, headers) => {
      const res = await call(`${base}/admin/api/users`, {
        method: 'POST',
        headers: { Cookie: admin.cookie, 'Content-Type': 'application/json', ...headers },
        body: JSON.stringify({ email: 'csrf-victim@example.test' }),
      });
      expect(res.status).toBe(403);
      expect(res.json).toMatchObject({ error: 'csrf', message: expect.stringContaining('X-CSRF-Token') });
      expect(await gw.app.get(UsersService).findByEmail('csrf-victim@example.test')).toBeNull();
    });

    it("another session's token is refused: the token is bound to the session", async () => {
      const other = await signInToConsole(base, ADMIN);
      expect(other.csrfToken).not.toBe(admin.csrfToken);
      const res = await api('POST', '/users', { email: 'csrf-victim@example.test' }, { 'X-CSRF-Token': other.csrfToken });
      expect(res.status).toBe(403);
      expect(res.json.error).toBe('csrf');
    });

    it('a request the browser marks as cross-site is refused even with the right token', async () => {
      const res = await api('POST', '/users', { email: 'csrf-victim@example.test' }, { 'Sec-Fetch-Site': 'cross-site' });
      expect(res.status).toBe(403);
      expect(res.json.error).toBe('csrf');
      const sameOrigin = await api('GET', '/users', undefined, { 'Sec-Fetch-Site': 'same-origin' });
      expect(sameOrigin.status).toBe(200);
    });

    it('reads need no token', async () => {
      expect((await call(`${base}/admin/api/users`, { headers: { Cookie: admin.cookie } })).status).toBe(200);
    });
  });

  describe('validation: 400 naming the bad field', () => {
    it.each([
      ['a malformed email', { email: 'not-an-email' }, 'email', 'must be an email address'],
      ['a missing email', { name: 'Nobody' }, 'email', 'is required'],
      ['an unknown role', { email: 'r@example.test', role: 'root' }, 'role', 'must be one of: admin, member, auditor'],
      ['an empty name', { email: 'n@example.test', name: '  ' }, 'name', expect.stringContaining('longer than or equal to 1')],
      ['an unknown field', { email: 'u@example.test', isAdmin: true }, 'isAdmin', 'is not a known field'],
      ['a name that is not a string', { email: 'n@example.test', name: 42 }, 'name', 'must be a string'],
    ])('POST /users with %s', async (_name, body, field, problem) => {
      const res = await api('POST', '/users', body);
      expect(res.status).toBe(400);
      expect(res.json).toMatchObject({ error: 'invalid_request', fields: { [field]: problem } });
      expect(res.json.message).toContain(field);
    });

    it.each([
      ['limit=abc', 'limit'],
      ['cursor=not-a-cursor', 'cursor'],
      [`cursor=${Buffer.from('{"a":1}').toString('base64url')}`, 'cursor'],
      ['role=root', 'role'],
      ['disabled=maybe', 'disabled'],
      ['sort=email', 'sort'],
      ['q=a&q=b', 'q'],
    ])('GET /users?%s', async (query, field) => {
      const res = await api('GET', `/users?${query}`);
      expect(res.status).toBe(400);
      expect(Object.keys(res.json.fields)).toEqual([field]);
    });

    it('PATCH with a bad role, and a body that is not JSON', async () => {
      const res = await api('PATCH', `/users/${admin.user.id}`, { role: 'superuser' });
      expect(res.status).toBe(400);
      expect(res.json.fields).toEqual({ role: 'must be one of: admin, member, auditor' });
      const garbage = await api('POST', '/users', '{oops');
      expect(garbage.status).toBe(400);
      expect(garbage.json).toEqual({ error: 'invalid_request', message: 'request body is not valid JSON or form data' });
    });

    it('an unknown user id is a 404 JSON, never a 500', async () => {
      for (const [method, path] of [
        ['GET', '/users/nope'],
        ['PATCH', '/users/nope'],
        ['POST', '/users/nope/disable'],
        ['DELETE', '/users/nope'],
      ]) {
        const res = await api(method, path, method === 'GET' ? undefined : {});
        expect(res.status).toBe(404);
        expect(res.json).toEqual({ error: 'not_found', message: 'no such user' });
      }
    });

    it('a taken email is a 409', async () => {
      const res = await api('POST', '/users', { email: ADMIN.email.toUpperCase() });
      expect(res.status).toBe(409);
      expect(res.json).toEqual({ error: 'conflict', message: `a user with the email ${ADMIN.email} already exists` });
    });
  });

  describe('invite links', () => {
    it('create → {user, inviteUrl, expiresAt}; the user cannot sign in until the link sets a password', async () => {
      const before = Date.now();
      const res = await api('POST', '/users', { email: 'New.Person@Example.test', name: 'New Person', role: 'member' });
      expect(res.status).toBe(201);
      links.push(res.json.inviteUrl);
      expect(res.json.user).toEqual({
        id: expect.any(String),
        email: 'new.person@example.test',
        name: 'New Person',
        role: 'member',
        status: 'invited',
        disabled: false,
        passwordSet: false,
        createdAt: expect.any(String),
        lastLoginAt: null,
      });
      expect(res.json.inviteUrl).toMatch(new RegExp(`^${base}/invite/[A-Za-z0-9_-]{43}$`));
      const expires = Date.parse(res.json.expiresAt);
      expect(expires).toBeGreaterThanOrEqual(before + 7 * 86_400_000 - 1000);
      expect(expires).toBeLessThanOrEqual(Date.now() + 7 * 86_400_000);
      // No password yet: nothing signs in, not even an empty one.
      expect(await signInStatus({ email: 'new.person@example.test', password: PASSWORD })).toBe(401);

      const browser = new TestBrowser();
      const page = await browser.get(res.json.inviteUrl);
      expect(page.status).toBe(200);
      expect(page.headers.get('cache-control')).toBe('no-store');
      expect(page.body).toContain('Welcome to Gatehouse');
      expect(page.body).toContain('new.person@example.test');

      const short = await browser.submit(page, { password: 'too short', confirm: 'too short' });
      expect(short.status).toBe(400);
      expect(short.body).toContain('at least 12 characters');
      const differ = await browser.submit(short, { password: PASSWORD, confirm: `${PASSWORD}!` });
      expect(differ.status).toBe(400);
      expect(differ.body).toContain('The two passwords differ.');
      const noCsrf = await browser.post(res.json.inviteUrl, { password: PASSWORD, confirm: PASSWORD });
      expect(noCsrf.status).toBe(403);

      const done = await browser.submit(differ, { password: PASSWORD, confirm: PASSWORD });
      expect(done.status).toBe(303);
      expect(done.location).toBe(`${base}/admin/`);
      expect(done.headers.get('set-cookie')).toMatch(/^gh_session=[^;]+;.*HttpOnly.*SameSite=Lax/);
      // Signed in by the link itself.
      const session = await consoleSessionOf(base, browser);
      expect(session.user.email).toBe('new.person@example.test');
      expect(await signInStatus({ email: 'new.person@example.test', password: PASSWORD })).toBe(303);
      expect((await api('GET', `/users/${res.json.user.id}`)).json.user).toMatchObject({ status: 'active', passwordSet: true, lastLoginAt: expect.any(String) });

      // Once only: a second use gets a clear page, not the form.
      const again = await new TestBrowser().get(res.json.inviteUrl);
      expect(again.status).toBe(410);
      expect(again.body).toContain('This link was already used');
      expect(again.body).not.toContain('<form');
      const replay = await browser.post(res.json.inviteUrl, { password: 'another long password', confirm: 'another long password' });
      expect(replay.status).toBe(410);
      expect(await signInStatus({ email: 'new.person@example.test', password: PASSWORD })).toBe(303);
    });

    it.each(['made-up-token', 'x'.repeat(500), '..%2F..%2Fetc', 'a%00b'])('an unknown link (%s) gets a 404 page saying so, never an error', async (token) => {
      const browser = new TestBrowser();
      const page = await browser.get(`${base}/invite/${token}`);
      expect(page.status).toBe(404);
      expect(page.body).toContain('This link is not valid');
      const post = await browser.post(`${base}/invite/${token}`, { password: PASSWORD, confirm: PASSWORD });
      expect(post.status).toBe(404);
      expect(post.body).toContain('This link is not valid');
    });

    it('a link that is not even valid percent-encoding gets an error page, not a 500', async () => {
      const page = await new TestBrowser().get(`${base}/invite/%E0%A4%A`);
      expect(page.status).toBe(400);
      expect(page.body).toContain('<h1>');
      expect(page.body).not.toMatch(/\bat \S+ \(/);
    });

    it("a disabled user's link shows a page saying so; a deleted user's link is gone", async () => {
      const disabled = await api('POST', '/users', { email: 'disabled-invitee@example.test' });
      links.push(disabled.json.inviteUrl);
      expect((await api('POST', `/users/${disabled.json.user.id}/disable`)).status).toBe(200);
      const browser = new TestBrowser();
      const page = await browser.get(disabled.json.inviteUrl);
      expect(page.status).toBe(403);
      expect(page.body).toContain('This account is disabled');
      expect((await browser.post(disabled.json.inviteUrl, { password: PASSWORD, confirm: PASSWORD })).status).toBe(403);
      // Enabled again, the same link works.
      expect((await api('POST', `/users/${disabled.json.user.id}/enable`)).status).toBe(200);
      expect((await browser.get(disabled.json.inviteUrl)).status).toBe(200);

      const deleted = await api('POST', '/users', { email: 'deleted-invitee@example.test' });
      links.push(deleted.json.inviteUrl);
      expect((await api('DELETE', `/users/${deleted.json.user.id}`)).status).toBe(204);
      expect((await new TestBrowser().get(deleted.json.inviteUrl)).status).toBe(404);
    });

    it('a link expires (invites.invite_ttl)', async () => {
      const short = await startTestGateway({ config: { invites: { invite_ttl: 1, reset_ttl: 1 } } });
      try {
        const shortBase = short.config.publicUrl;
        const shortApi = adminApi(shortBase, await signInToConsole(shortBase, ADMIN));
        const created = await shortApi('POST', '/users', { email: 'late@example.test' });
        expect(created.status).toBe(201);
        expect(Date.parse(created.json.expiresAt) - Date.now()).toBeLessThanOrEqual(1000);
        await new Promise((r) => setTimeout(r, 1100));
        const browser = new TestBrowser();
        const page = await browser.get(created.json.inviteUrl);
        expect(page.status).toBe(410);
        expect(page.body).toContain('This link has expired');
        const post = await browser.post(created.json.inviteUrl, { password: PASSWORD, confirm: PASSWORD });
        expect(post.status).toBe(410);
      } finally {
        await short.close();
        short.cleanup();
      }
    });
  });

  describe('password reset and change', () => {
    it('reset: a new link; the old password, the old link and every session stop working at once', async () => {
      const { id, session, creds } = await onboard('forgetful@example.test');
      const old = await api('POST', `/users/${id}/reset-password`);
      expect(old.status).toBe(200);
      links.push(old.json.inviteUrl);
      expect(old.json).toEqual({ inviteUrl: expect.stringMatching(/\/invite\//), expiresAt: expect.any(String), purpose: 'reset' });
      expect(Date.parse(old.json.expiresAt) - Date.now()).toBeLessThanOrEqual(24 * 3600_000);
      // The session opened before the reset is gone, and so is the old password.
      expect((await adminApi(base, session)('GET', '/session')).status).toBe(401);
      expect(await signInStatus(creds)).toBe(401);

      const fresh = await api('POST', `/users/${id}/reset-password`);
      links.push(fresh.json.inviteUrl);
      expect((await new TestBrowser().get(old.json.inviteUrl)).status).toBe(404);
      const browser = new TestBrowser();
      const page = await browser.get(fresh.json.inviteUrl);
      expect(page.body).toContain('Choose a new password');
      expect((await browser.submit(page, { password: 'my brand new password', confirm: 'my brand new password' })).status).toBe(303);
      expect(await signInStatus({ email: creds.email, password: 'my brand new password' })).toBe(303);
    });

    it("a user who never set a password gets an invite link again, valid as long as an invite's", async () => {
      const created = await api('POST', '/users', { email: 'never-came@example.test' });
      links.push(created.json.inviteUrl);
      const again = await api('POST', `/users/${created.json.user.id}/reset-password`);
      links.push(again.json.inviteUrl);
      expect(again.json.purpose).toBe('invite');
      expect((await new TestBrowser().get(created.json.inviteUrl)).status).toBe(404);
      expect((await new TestBrowser().get(again.json.inviteUrl)).status).toBe(200);
    });

    it('POST /me/password: any signed-in user changes their own; their other sessions end, this one stays', async () => {
      const { session, creds } = await onboard('changer@example.test');
      const elsewhere = await signInToConsole(base, creds);
      const me = adminApi(base, session);
      const wrong = await me('POST', '/me/password', { currentPassword: 'not my password at all', newPassword: 'my next long password' });
      expect(wrong.status).toBe(400);
      expect(wrong.json.fields).toEqual({ currentPassword: 'is not your current password' });
      const short = await me('POST', '/me/password', { currentPassword: creds.password, newPassword: 'short' });
      expect(short.status).toBe(400);
      expect(short.json.fields).toEqual({ newPassword: 'must be at least 12 characters long' });
      const missing = await me('POST', '/me/password', { newPassword: 'my next long password' });
      expect(Object.keys(missing.json.fields)).toEqual(['currentPassword']);
      const noCsrf = await me('POST', '/me/password', { currentPassword: creds.password, newPassword: 'my next long password' }, { 'X-CSRF-Token': 'nope' });
      expect(noCsrf.status).toBe(403);

      const ok = await me('POST', '/me/password', { currentPassword: creds.password, newPassword: 'my next long password' });
      expect(ok.status).toBe(204);
      expect((await me('GET', '/session')).status).toBe(200);
      expect((await adminApi(base, elsewhere)('GET', '/session')).status).toBe(401);
      expect(await signInStatus(creds)).toBe(401);
      expect(await signInStatus({ email: creds.email, password: 'my next long password' })).toBe(303);
    });
  });

  describe('listing and reading users', () => {
    it('pages through every user with the cursor, without repeats, in email order; filters by q, role and disabled', async () => {
      for (const n of [1, 2, 3, 4, 5]) expect((await api('POST', '/users', { email: `page-${n}@list.test`, name: `Lister ${n}` })).status).toBe(201);
      const { items, pages } = await allPages(api, '/users', 2);
      const emails = items.map((u) => u.email);
      expect(new Set(emails).size).toBe(emails.length);
      expect(emails).toEqual([...emails].sort());
      expect(pages).toBe(Math.ceil(emails.length / 2));
      expect(emails).toEqual(expect.arrayContaining([ADMIN.email, 'page-1@list.test', 'page-5@list.test']));

      const firstPage = await api('GET', '/users?limit=2&q=list.test');
      // A user inserted before the cursor neither repeats nor shifts what comes after it.
      expect((await api('POST', '/users', { email: 'page-0@list.test' })).status).toBe(201);
      const second = await api('GET', `/users?limit=10&q=list.test&cursor=${firstPage.json.nextCursor}`);
      expect(second.json.nextCursor).toBeNull();
      expect([...firstPage.json.items, ...second.json.items].map((u: any) => u.email)).toEqual([
        'page-1@list.test',
        'page-2@list.test',
        'page-3@list.test',
        'page-4@list.test',
        'page-5@list.test',
      ]);

      expect((await allPages(api, '/users?q=LISTER%203', 10)).items.map((u) => u.email)).toEqual(['page-3@list.test']);
      expect((await allPages(api, '/users?q=%25', 10)).items).toEqual([]);
      expect((await allPages(api, '/users?role=admin', 10)).items.map((u) => u.email)).toEqual([ADMIN.email]);
      expect((await api('GET', '/users?limit=1000')).status).toBe(200);
      const none = await api('GET', '/users?role=auditor&disabled=true');
      expect(none.json).toEqual({ items: [], nextCursor: null });
    });

    it('GET /users/:id shows the groups and live grants of the user', async () => {
      const { id, creds } = await onboard('detailed@example.test');
      await accessToken(creds);
      const res = await api('GET', `/users/${id}`);
      expect(res.status).toBe(200);
      expect(res.json).toEqual({ user: expect.objectContaining({ id, email: 'detailed@example.test' }), groups: [], identities: [], activeGrants: 1 });
    });
  });

  describe('roles, disabling and deleting', () => {
    it('PATCH promotes and demotes, renames, and audits who did it', async () => {
      const { id, session } = await onboard('climber@example.test');
      const promoted = await api('PATCH', `/users/${id}`, { role: 'admin' });
      expect(promoted.status).toBe(200);
      expect(promoted.json.user.role).toBe('admin');
      // The new admin's existing session now reaches admin routes.
      expect((await adminApi(base, session)('GET', '/users')).status).toBe(200);
      const demoted = await api('PATCH', `/users/${id}`, { role: 'member', name: 'Climber' });
      expect(demoted.json.user).toMatchObject({ role: 'member', name: 'Climber' });
      expect((await adminApi(base, session)('GET', '/users')).status).toBe(403);
      const cleared = await api('PATCH', `/users/${id}`, { name: null });
      expect(cleared.json.user.name).toBeNull();

      const rows = await gw.app.get(AuditService).list({ type: 'admin.user.role' });
      expect(rows.slice(0, 2).map((r) => r.detail)).toEqual([
        { target_user: id, email: 'climber@example.test', from: 'admin', to: 'member' },
        { target_user: id, email: 'climber@example.test', from: 'member', to: 'admin' },
      ]);
      expect(rows[0].userId).toBe(admin.user.id);
    });

    it('an admin cannot demote, disable or delete themselves (409)', async () => {
      for (const [method, path, body] of [
        ['PATCH', `/users/${admin.user.id}`, { role: 'member' }],
        ['PATCH', `/users/${admin.user.id}`, { role: 'auditor' }],
        ['POST', `/users/${admin.user.id}/disable`, undefined],
        ['DELETE', `/users/${admin.user.id}`, undefined],
      ] as const) {
        const res = await api(method, path, body);
        expect(res.status).toBe(409);
        expect(res.json).toEqual({ error: 'conflict', message: expect.stringMatching(/yourself|your own account/) });
      }
      expect((await api('GET', '/session')).json.user.role).toBe('admin');
    });

    it('the last enabled admin is never demoted, disabled or deleted, whoever asks', async () => {
      const users = gw.app.get(UsersService);
      const second = await onboard('second-admin@example.test', 'admin');
      // The second admin disables the first, and is then the only enabled admin left.
      expect((await adminApi(base, second.session)('POST', `/users/${admin.user.id}/disable`)).status).toBe(200);
      try {
        for (const attempt of [() => users.setRole(second.id, 'member'), () => users.disable(second.id), () => users.delete(second.id)]) {
          await expect(attempt()).rejects.toMatchObject({ status: 409, response: { error: 'conflict', message: expect.stringContaining('last enabled admin') } });
        }
        expect((await users.findById(second.id))!).toMatchObject({ role: 'admin', disabled: false });
      } finally {
        expect((await adminApi(base, second.session)('POST', `/users/${admin.user.id}/enable`)).status).toBe(200);
      }
      admin = await signInToConsole(base, ADMIN);
      api = adminApi(base, admin);
      // With two enabled admins, either may go.
      expect((await api('PATCH', `/users/${second.id}`, { role: 'member' })).status).toBe(200);
    });

    it('disabling cuts the open MCP stream and refuses the token at once; enabling lets the user sign in again', async () => {
      const { id, creds, session } = await onboard('streamer@example.test');
      const token = await accessToken(creds);
      const init = await mcpPost(gw.mcpUrl('u'), token, initializeRequest());
      expect(init.status).toBe(200);
      const sessionId = init.headers.get('mcp-session-id')!;
      // The standalone GET stream: it stays open until someone ends it.
      const gets = () => upstream.seen.filter((r) => r.method === 'GET').length;
      const getsBefore = gets();
      const stream = streamUntilClosed(gw.mcpUrl('u'), {
        Authorization: `Bearer ${token}`,
        Accept: 'text/event-stream',
        'Mcp-Session-Id': sessionId,
        'MCP-Protocol-Version': '2025-06-18',
      });
      for (let i = 0; i < 250 && gets() === getsBefore; i++) await new Promise((r) => setTimeout(r, 20));
      expect(gets()).toBe(getsBefore + 1);
      expect(await settledWithin(stream, 200)).toBe('still open');

      const res = await api('POST', `/users/${id}/disable`);
      expect(res.status).toBe(200);
      expect(res.json).toEqual({ user: expect.objectContaining({ id, status: 'disabled', disabled: true }), grantsRevoked: 1 });
      expect(await settledWithin(stream, 5000)).toBe('closed');

      const refused = await mcpPost(gw.mcpUrl('u'), token);
      expect(refused.status).toBe(401);
      expect(refused.headers.get('www-authenticate')).toContain('error="invalid_token"');
      expect((await adminApi(base, session)('GET', '/session')).status).toBe(401);
      expect(await signInStatus(creds)).toBe(401);
      expect((await api('GET', `/users/${id}`)).json.activeGrants).toBe(0);

      const enabled = await api('POST', `/users/${id}/enable`);
      expect(enabled.json.user).toMatchObject({ status: 'active', disabled: false });
      expect(await signInStatus(creds)).toBe(303);
      expect((await mcpPost(gw.mcpUrl('u'), token)).status).toBe(401);
    });

    it('deleting ends the account, its sessions, grants and tokens', async () => {
      const { id, creds, session } = await onboard('leaver@example.test');
      const token = await accessToken(creds);
      expect((await mcpPost(gw.mcpUrl('u'), token)).status).toBe(200);
      const res = await api('DELETE', `/users/${id}`);
      expect(res.status).toBe(204);
      expect((await api('GET', `/users/${id}`)).status).toBe(404);
      expect((await mcpPost(gw.mcpUrl('u'), token)).status).toBe(401);
      expect((await adminApi(base, session)('GET', '/session')).status).toBe(401);
      expect(await signInStatus(creds)).toBe(401);
      const [row] = await gw.app.get(AuditService).list({ type: 'admin.user.delete' });
      expect(row).toMatchObject({ userId: admin.user.id, detail: { target_user: id, email: 'leaver@example.test', grants_revoked: 1 } });
    });
  });

  it('audits every admin action with the admin and the target', async () => {
    const types = (await gw.app.get(AuditService).list({ limit: 1000 })).filter((r) => r.type.startsWith('admin.user.'));
    expect(new Set(types.map((r) => r.type))).toEqual(
      new Set(['admin.user.create', 'admin.user.reset_password', 'admin.user.role', 'admin.user.rename', 'admin.user.disable', 'admin.user.enable', 'admin.user.delete']),
    );
    for (const row of types) {
      expect(row.userId).toEqual(expect.any(String));
      expect(row.detail).toMatchObject({ target_user: expect.any(String), email: expect.any(String) });
    }
  });

  it('no response, audit row or log carries a secret: password hashes, token hashes, links (except where made)', async () => {
    const users = await gw.app.get(DataSource).query('SELECT password_hash FROM users WHERE password_hash IS NOT NULL');
    const hashes: string[] = users.map((u: { password_hash: string }) => u.password_hash);
    const linkTokens = links.map((l) => l.slice(l.lastIndexOf('/') + 1));
    const secrets = [...hashes, ...linkTokens, ...linkTokens.map(sha256)];
    expect(hashes.length).toBeGreaterThan(3);
    expect(linkTokens.length).toBeGreaterThan(5);
    const madeLinks = (r: HttpResult) => r.json?.inviteUrl !== undefined;
    for (const res of api.seen.filter((r) => !madeLinks(r))) {
      for (const secret of secrets) expect(res.text).not.toContain(secret);
      expect(res.text).not.toMatch(/argon2|password_?hash|passwordHash|token_?hash/i);
    }
    // A response that made a link holds that link's token, no other, and no hash.
    for (const res of api.seen.filter(madeLinks)) {
      const own = res.json.inviteUrl.slice(res.json.inviteUrl.lastIndexOf('/') + 1);
      for (const secret of secrets.filter((s) => s !== own)) expect(res.text).not.toContain(secret);
    }
    const audit = JSON.stringify(await gw.app.get(AuditService).list({ limit: 10_000 }));
    for (const secret of secrets) expect(audit).not.toContain(secret);
  });
});
