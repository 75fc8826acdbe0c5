import { AuditService } from '../../server/src/audit/audit.service';
import { UpstreamsService } from '../../server/src/upstreams/upstreams.service';
import { startUpstream, RunningUpstream } from '../fixtures/upstream-mcp-server';
import { adminApi, AdminCall, allPages, consoleSessionOf, ConsoleSession, signInToConsole } from '../helpers/admin-api';
import { TestBrowser } from '../helpers/browser';
import { ADMIN, startTestGateway, TestGateway } from '../helpers/gateway';
import { call, mcpPost, obtainCode, pkce, registerPublicClient, tokenRequest } from '../helpers/raw-oauth';

const REDIRECT = 'http://127.0.0.1:7792/cb';
const PASSWORD = 'a perfectly long password';

describe('admin API: groups', () => {
  let upstream: RunningUpstream;
  let gw: TestGateway;
  let base: string;
  let admin: ConsoleSession;
  let api: AdminCall;

  async function onboard(email: string, role = 'member'): Promise<{ id: string; session: ConsoleSession; creds: { email: string; password: string } }> {
    const created = await api('POST', '/users', { email, role });
    expect(created.status).toBe(201);
    const browser = new TestBrowser();
    expect((await browser.submit(await browser.get(created.json.inviteUrl), { password: PASSWORD, confirm: PASSWORD })).status).toBe(303);
    return { id: created.json.user.id, session: await consoleSessionOf(base, browser), creds: { email, password: PASSWORD } };
  }

  async function createGroup(name: string): Promise<{ id: string; name: string }> {
    const res = await api('POST', '/groups', { name });
    expect(res.status).toBe(201);
    return res.json.group;
  }

  beforeAll(async () => {
    upstream = await startUpstream();
    gw = await startTestGateway({
      config: {
        upstreams: [
          { slug: 'u', url: upstream.url },
          { slug: 'restricted', url: upstream.url, allow: { groups: ['eng'] } },
        ],
      },
    });
    base = gw.config.publicUrl;
    admin = await signInToConsole(base, ADMIN);
    api = adminApi(base, admin);
  });
  afterAll(async () => {
    await gw.close();
    await upstream.close();
    gw.cleanup();
  });

  describe('who may call it', () => {
    it('no session → 401; a member → 403; an auditor reads but changes nothing; no CSRF token → 403', async () => {
      const group = await createGroup('guarded');
      const anonymous = adminApi(base, null);
      for (const [method, path] of [
        ['GET', '/groups'],
        ['POST', '/groups'],
        ['PUT', `/groups/${group.id}/members/x`],
        ['DELETE', `/groups/${group.id}`],
      ]) {
        const res = await anonymous(method, path, method === 'GET' ? undefined : {});
        expect(res.status).toBe(401);
        expect(res.json).toEqual({ error: 'unauthorized' });
      }
      const member = adminApi(base, (await onboard('group-member@example.test')).session);
      for (const [method, path] of [
        ['GET', '/groups'],
        ['GET', `/groups/${group.id}/members`],
        ['POST', '/groups'],
        ['PATCH', `/groups/${group.id}`],
      ]) {
        const res = await member(method, path, method === 'GET' ? undefined : { name: 'mine' });
        expect(res.status).toBe(403);
        expect(res.json).toEqual({ error: 'forbidden' });
      }
      const auditor = adminApi(base, (await onboard('group-auditor@example.test', 'auditor')).session);
      expect((await auditor('GET', '/groups')).status).toBe(200);
      expect((await auditor('GET', `/groups/${group.id}`)).status).toBe(200);
      expect((await auditor('GET', `/groups/${group.id}/members`)).status).toBe(200);
      expect((await auditor('POST', '/groups', { name: 'by-auditor' })).status).toBe(403);
      expect((await auditor('DELETE', `/groups/${group.id}`)).status).toBe(403);

      for (const headers of [{ 'X-CSRF-Token': '' }, { 'X-CSRF-Token': 'wrong' }, { 'Sec-Fetch-Site': 'same-site' }] as Array<Record<string, string>>) {
        const res = await api('DELETE', `/groups/${group.id}`, undefined, headers);
        expect(res.status).toBe(403);
        expect(res.json.error).toBe('csrf');
      }
      expect((await api('GET', `/groups/${group.id}`)).status).toBe(200);
    });
  });

  describe('create, read, list', () => {
    it('creates a group → 201 {group}; a taken name → 409', async () => {
      const res = await api('POST', '/groups', { name: '  Design  ' });
      expect(res.status).toBe(201);
      expect(res.json).toEqual({ group: { id: expect.any(String), name: 'Design', memberCount: 0, createdAt: expect.any(String) } });
      expect((await api('GET', `/groups/${res.json.group.id}`)).json).toEqual(res.json);
      const clash = await api('POST', '/groups', { name: 'Design' });
      expect(clash.status).toBe(409);
      expect(clash.json).toEqual({ error: 'conflict', message: 'a group named "Design" already exists' });
    });

    it.each([
      ['no name', {}, 'is required'],
      ['a blank name', { name: '   ' }, expect.stringContaining('longer than or equal to 1')],
      ['a name that is not a string', { name: ['eng'] }, 'must be a string'],
      ['a control character', { name: 'bell\u0007' }, 'must not contain control or format characters'],
      ['a name too long', { name: 'x'.repeat(101) }, expect.stringContaining('shorter than or equal to 100')],
    ])('400 naming the field for %s', async (_name, body, problem) => {
      const res = await api('POST', '/groups', body);
      expect(res.status).toBe(400);
      expect(res.json).toEqual({ error: 'invalid_request', message: expect.stringContaining('name'), fields: { name: problem } });
    });

    it('400 for an unknown field, and 404 for an unknown group', async () => {
      const res = await api('POST', '/groups', { name: 'ok', members: [] });
      expect(res.status).toBe(400);
      expect(res.json.fields).toEqual({ members: 'is not a known field' });
      for (const [method, path] of [
        ['GET', '/groups/nope'],
        ['GET', '/groups/nope/members'],
        ['PATCH', '/groups/nope'],
        ['DELETE', '/groups/nope'],
        ['PUT', '/groups/nope/members/x'],
      ]) {
        const missing = await api(method, path, method === 'PATCH' ? { name: 'x' } : undefined);
        expect(missing.status).toBe(404);
        expect(missing.json).toEqual({ error: 'not_found', message: 'no such group' });
      }
    });

    it('lists every group by name, page by page with the cursor', async () => {
      for (const name of ['list-c', 'list-a', 'list-e', 'list-b', 'list-d']) await createGroup(name);
      const { items, pages } = await allPages(api, '/groups', 2);
      const names = items.map((g) => g.name);
      expect(names).toEqual([...names].sort());
      expect(new Set(names).size).toBe(names.length);
      expect(names.filter((n) => n.startsWith('list-'))).toEqual(['list-a', 'list-b', 'list-c', 'list-d', 'list-e']);
      expect(pages).toBe(Math.ceil(names.length / 2));
      expect(items[0]).toEqual({ id: expect.any(String), name: expect.any(String), memberCount: expect.any(Number), createdAt: expect.any(String) });
      const bad = await api('GET', '/groups?cursor=%%%');
      expect(bad.status).toBe(400);
      expect(bad.json.fields).toEqual({ cursor: 'is not a cursor from this list' });
    });
  });

  describe('members', () => {
    it('PUT adds, DELETE removes (both idempotent); members page by email; the user shows their groups', async () => {
      const group = await createGroup('crew');
      const a = await onboard('crew-a@example.test');
      const b = await onboard('crew-b@example.test');
      for (const user of [b, a, a]) expect((await api('PUT', `/groups/${group.id}/members/${user.id}`)).status).toBe(204);
      expect((await api('GET', `/groups/${group.id}`)).json.group.memberCount).toBe(2);
      const first = await api('GET', `/groups/${group.id}/members?limit=1`);
      expect(first.json.items.map((u: any) => u.email)).toEqual(['crew-a@example.test']);
      const second = await api('GET', `/groups/${group.id}/members?limit=1&cursor=${first.json.nextCursor}`);
      expect(second.json).toEqual({ items: [expect.objectContaining({ email: 'crew-b@example.test', role: 'member' })], nextCursor: null });
      expect((await api('GET', `/users/${a.id}`)).json.groups).toEqual([{ id: group.id, name: 'crew' }]);

      expect((await api('DELETE', `/groups/${group.id}/members/${a.id}`)).status).toBe(204);
      expect((await api('DELETE', `/groups/${group.id}/members/${a.id}`)).status).toBe(204);
      expect((await api('GET', `/users/${a.id}`)).json.groups).toEqual([]);
      const unknownUser = await api('PUT', `/groups/${group.id}/members/nobody`);
      expect(unknownUser.status).toBe(404);
      expect(unknownUser.json).toEqual({ error: 'not_found', message: 'no such user' });

      const rows = (await gw.app.get(AuditService).list({ limit: 1000 })).filter((r) => r.type.startsWith('admin.group.member.') && r.detail?.target_group === group.id);
      expect(rows.map((r) => [r.type, r.detail!.email, r.detail!.changed])).toEqual([
        ['admin.group.member.remove', 'crew-a@example.test', false],
        ['admin.group.member.remove', 'crew-a@example.test', true],
        ['admin.group.member.add', 'crew-a@example.test', false],
        ['admin.group.member.add', 'crew-a@example.test', true],
        ['admin.group.member.add', 'crew-b@example.test', true],
      ]);
      expect(rows.every((r) => r.userId === admin.user.id)).toBe(true);
    });
  });

  describe('allow-lists name groups', () => {
    let bob: { id: string; creds: { email: string; password: string } };
    let eng: { id: string; name: string };
    let token: string;

    beforeAll(async () => {
      bob = await onboard('bob@example.test');
      eng = await createGroup('eng');
      expect((await api('PUT', `/groups/${eng.id}/members/${bob.id}`)).status).toBe(204);
      const client = await registerPublicClient(base, REDIRECT);
      const { verifier, challenge } = pkce();
      const code = await obtainCode(base, new TestBrowser(), bob.creds, { clientId: client.client_id, redirectUri: REDIRECT, challenge, resource: gw.mcpUrl('restricted') });
      token = (await tokenRequest(base, { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT, client_id: client.client_id })).json
        .access_token;
    });

    it('a member added through the API is let in; removed, refused at once', async () => {
      expect((await mcpPost(gw.mcpUrl('restricted'), token)).status).toBe(200);
      expect((await api('DELETE', `/groups/${eng.id}/members/${bob.id}`)).status).toBe(204);
      expect((await mcpPost(gw.mcpUrl('restricted'), token)).status).toBe(403);
      expect((await api('PUT', `/groups/${eng.id}/members/${bob.id}`)).status).toBe(204);
      expect((await mcpPost(gw.mcpUrl('restricted'), token)).status).toBe(200);
    });

    it('a rename carries the new name into the allow-lists, so members keep their access; config.yaml upstreams are flagged', async () => {
      const clash = await api('PATCH', `/groups/${eng.id}`, { name: 'Design' });
      expect(clash.status).toBe(409);
      const res = await api('PATCH', `/groups/${eng.id}`, { name: 'engineering' });
      expect(res.status).toBe(200);
      expect(res.json).toEqual({
        group: { id: eng.id, name: 'engineering', memberCount: 1, createdAt: expect.any(String) },
        warnings: ['upstream "restricted" comes from config.yaml: change "eng" to "engineering" in its allow.groups before the next start'],
      });
      expect(gw.app.get(UpstreamsService).get('restricted')!.allow.groups).toEqual(['engineering']);
      expect((await mcpPost(gw.mcpUrl('restricted'), token)).status).toBe(200);
      // A new group taking the old name gains nothing.
      const impostor = await createGroup('eng');
      const carol = await onboard('carol@example.test');
      expect((await api('PUT', `/groups/${impostor.id}/members/${carol.id}`)).status).toBe(204);
      expect(await gw.app.get(UpstreamsService).groupReferences('eng')).toEqual([]);
      expect((await api('DELETE', `/groups/${impostor.id}`)).status).toBe(204);

      const [row] = await gw.app.get(AuditService).list({ type: 'admin.group.rename' });
      expect(row).toMatchObject({ userId: admin.user.id, detail: { target_group: eng.id, from: 'eng', to: 'engineering', allow_lists: ['restricted'] } });
    });

    it('a group an allow-list names cannot be deleted (409); one no list names can', async () => {
      const refused = await api('DELETE', `/groups/${eng.id}`);
      expect(refused.status).toBe(409);
      expect(refused.json).toEqual({ error: 'conflict', message: 'the allow-list of "restricted" names this group; remove it there first' });
      expect((await mcpPost(gw.mcpUrl('restricted'), token)).status).toBe(200);

      const spare = await createGroup('spare');
      expect((await api('PUT', `/groups/${spare.id}/members/${bob.id}`)).status).toBe(204);
      expect((await api('DELETE', `/groups/${spare.id}`)).status).toBe(204);
      expect((await api('GET', `/groups/${spare.id}`)).status).toBe(404);
      expect((await api('GET', `/users/${bob.id}`)).json.groups).toEqual([{ id: eng.id, name: 'engineering' }]);
      const [row] = await gw.app.get(AuditService).list({ type: 'admin.group.delete' });
      expect(row).toMatchObject({ userId: admin.user.id, detail: { target_group: spare.id, group: 'spare' } });
    });
  });

  it('audits every group action with the admin', async () => {
    const rows = (await gw.app.get(AuditService).list({ limit: 1000 })).filter((r) => r.type.startsWith('admin.group.'));
    expect(new Set(rows.map((r) => r.type))).toEqual(
      new Set(['admin.group.create', 'admin.group.rename', 'admin.group.delete', 'admin.group.member.add', 'admin.group.member.remove']),
    );
    expect(rows.every((r) => r.userId === admin.user.id && typeof r.detail?.target_group === 'string')).toBe(true);
  });
});

describe('the admin rate limit is its own', () => {
  it('admin_per_minute limits the admin API (429 JSON with Retry-After) apart from the OAuth limit', async () => {
    const gw = await startTestGateway({ config: { rate_limit: { admin_per_minute: 6, oauth_per_minute: 3 } } });
    try {
      const base = gw.config.publicUrl;
      // The OAuth limit: 3 a minute per endpoint.
      for (let i = 0; i < 3; i++) expect((await call(`${base}/.well-known/oauth-authorization-server`)).status).toBe(200);
      expect((await call(`${base}/.well-known/oauth-authorization-server`)).status).toBe(429);
      // The admin API is not held to it (4 calls to one route)…
      const api = adminApi(base, await signInToConsole(base, ADMIN)); // GET /admin/api/session: 1
      for (let i = 0; i < 4; i++) expect((await api('GET', '/groups')).status).toBe(200);
      expect((await api('GET', '/users')).status).toBe(200);
      // …but to its own, counting every admin route together.
      const limited = await api('POST', '/groups', { name: 'one too many' });
      expect(limited.status).toBe(429);
      expect(limited.json).toEqual({ error: 'rate_limited', message: expect.any(String) });
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
      // …while the OAuth endpoints answer by their own count.
      expect((await call(`${base}/.well-known/oauth-protected-resource`)).status).not.toBe(429);
    } finally {
      await gw.close();
      gw.cleanup();
    }
  });
});
