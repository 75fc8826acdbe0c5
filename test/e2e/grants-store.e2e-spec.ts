import dns from 'node:dns';
import http from 'node:http';
import { AddressInfo } from 'node:net';
import { DataSource } from 'typeorm';
import { AuditService } from '../../server/src/audit/audit.service';
import { sha256 } from '../../server/src/common/crypto';
import { userUpstreamOwner } from '../../server/src/vault/vault-addresses';
import { VaultService } from '../../server/src/vault/vault.service';
import { RunningOAuthUpstream, startOAuthUpstream } from '../fixtures/upstream-oauth-server';
import { RunningUpstream, startUpstream } from '../fixtures/upstream-mcp-server';
import { adminApi, AdminCall, allPages, consoleSessionOf, ConsoleSession, signInToConsole } from '../helpers/admin-api';
import { TestBrowser } from '../helpers/browser';
import { ADMIN, startTestGateway, TestGateway } from '../helpers/gateway';
import { authorizeInBrowser, AuthorizeResult, connectWithOAuth } from '../helpers/oauth-client';
import { authorizeUrl, HttpResult, initializeRequest, mcpPost, pkce, register, registerPublicClient, tokenRequest } from '../helpers/raw-oauth';

const PASSWORD = 'a perfectly long password';
const REDIRECT = 'http://127.0.0.1:7792/cb';
const API_KEY = 'member-api-key-Zq81xY';
const CLAUDE = 'https://claude.ai/oauth/mcp-oauth-client-metadata';

/** Opens a GET stream and resolves once the gateway ends it, however it ends. */
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

/** A client metadata document served from loopback (client_metadata_documents.allow_private_networks). */
async function serveDocument(): Promise<{ clientId: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    if (req.url !== '/doc-client.json') return void res.writeHead(404).end();
    const body = { client_id: `http://127.0.0.1:${(server.address() as AddressInfo).port}/doc-client.json`, client_name: 'Doc Client', redirect_uris: [REDIRECT] };
    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'max-age=300' }).end(JSON.stringify(body));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { clientId: `http://127.0.0.1:${(server.address() as AddressInfo).port}/doc-client.json`, close: () => new Promise<void>((r) => server.close(() => r())) };
}

interface Issued {
  clientId: string;
  accessToken: string;
  refreshToken: string;
  authorization: AuthorizeResult;
}

describe('grants store and the admin API: clients, grants, My access', () => {
  let upstream: RunningUpstream;
  let oauthUpstream: RunningOAuthUpstream;
  let doc: Awaited<ReturnType<typeof serveDocument>>;
  let gw: TestGateway;
  let base: string;
  let admin: ConsoleSession;
  let api: AdminCall;
  let member: { id: string; creds: { email: string; password: string }; session: ConsoleSession; api: AdminCall };
  /** Every token handed out, to check no response carries one or its hash. */
  const tokens: string[] = [];
  const calls: AdminCall[] = [];

  async function onboard(email: string, role = 'member') {
    const created = await api('POST', '/users', { email, role });
    expect(created.status).toBe(201);
    const browser = new TestBrowser();
    const done = await browser.submit(await browser.get(created.json.inviteUrl), { password: PASSWORD, confirm: PASSWORD });
    expect(done.status).toBe(303);
    const session = await consoleSessionOf(base, browser);
    const caller = adminApi(base, session);
    calls.push(caller);
    return { id: created.json.user.id as string, creds: { email, password: PASSWORD }, session, api: caller };
  }

  /** A grant at `slug` for `creds`, through the real /authorize and /token; `clientId` reuses a client. */
  async function grant(
    creds: { email: string; password: string },
    slug: string,
    opts: { clientId?: string; consent?: Record<string, string>; browser?: TestBrowser } = {},
  ): Promise<Issued> {
    const clientId = opts.clientId ?? (await registerPublicClient(base, REDIRECT, { client_name: `app for ${slug}` })).client_id;
    const { verifier, challenge } = pkce();
    const url = authorizeUrl(base, {
      response_type: 'code',
      client_id: clientId,
      redirect_uri: REDIRECT,
      code_challenge: challenge,
      code_challenge_method: 'S256',
      resource: gw.mcpUrl(slug),
      state: 's',
    });
    const authorization = await authorizeInBrowser(opts.browser ?? new TestBrowser(), url, creds, { extraConsentFields: opts.consent });
    const res = await tokenRequest(base, { grant_type: 'authorization_code', code: authorization.code, code_verifier: verifier, redirect_uri: REDIRECT, client_id: clientId });
    expect(res.status).toBe(200);
    tokens.push(res.json.access_token, res.json.refresh_token);
    return { clientId, accessToken: res.json.access_token, refreshToken: res.json.refresh_token, authorization };
  }

  /** The admin list's view of the one live grant of this client (narrowed by `filter`, e.g. `&userId=…`). */
  async function grantOf(issued: Issued, filter = ''): Promise<any> {
    const { items } = await allPages(api, `/grants?clientId=${encodeURIComponent(issued.clientId)}&active=true${filter}`, 200);
    expect(items).toHaveLength(1);
    return items[0];
  }

  beforeAll(async () => {
    upstream = await startUpstream();
    oauthUpstream = await startOAuthUpstream();
    doc = await serveDocument();
    gw = await startTestGateway({
      config: {
        client_metadata_documents: { allow_private_networks: true },
        registration: { max_per_source_per_hour: 1000 },
        upstreams: [
          { slug: 'u', name: 'Upstream U', url: upstream.url },
          { slug: 'v', name: 'Upstream V', url: upstream.url },
          {
            slug: 'personal',
            name: 'Personal',
            url: upstream.url,
            auth: { mode: 'user_credentials', fields: [{ name: 'api_key', label: 'API key', secret: true }], headers: { 'X-API-Key': '{{api_key}}' } },
          },
          { slug: 'restricted', name: 'Restricted', url: upstream.url, allow: { emails: [ADMIN.email] } },
          { slug: 'crm', name: 'CRM', url: oauthUpstream.url, auth: { mode: 'oauth' } },
        ],
      },
    });
    base = gw.config.publicUrl;
    admin = await signInToConsole(base, ADMIN);
    api = adminApi(base, admin);
    calls.push(api);
    member = await onboard('member@grants.test');
  });
  afterAll(async () => {
    await gw.close();
    await upstream.close();
    await oauthUpstream.close();
    await doc.close();
    gw.cleanup();
  });

  describe('who may call', () => {
    let auditor: AdminCall;
    beforeAll(async () => {
      auditor = (await onboard('auditor@grants.test', 'auditor')).api;
    });

    it.each([
      ['GET', '/clients'],
      ['DELETE', '/clients/some-client'],
      ['GET', '/grants'],
      ['DELETE', '/grants/some-grant'],
      ['POST', '/grants/revoke'],
    ])('a member gets 403 {"error":"forbidden"} on %s %s; nobody signed in gets 401', async (method, path) => {
      const body = method === 'POST' ? { userId: member.id } : undefined;
      const res = await member.api(method, path, body);
      expect(res.status).toBe(403);
      expect(res.json).toEqual({ error: 'forbidden' });
      const anonymous = await adminApi(base, null)(method, path, body);
      expect(anonymous.status).toBe(401);
    });

    it('an auditor reads clients and grants but revokes nothing', async () => {
      const issued = await grant(ADMIN, 'u');
      expect((await auditor('GET', '/clients')).status).toBe(200);
      const list = await auditor('GET', '/grants');
      expect(list.status).toBe(200);
      const id = (await grantOf(issued)).id;
      for (const [method, path, body] of [
        ['DELETE', `/grants/${id}`, undefined],
        ['POST', '/grants/revoke', { clientId: issued.clientId }],
        ['DELETE', `/clients/${issued.clientId}`, undefined],
      ] as const) {
        expect((await auditor(method, path, body)).status).toBe(403);
      }
      expect((await mcpPost(gw.mcpUrl('u'), issued.accessToken)).status).toBe(200);
    });

    it('My access answers every signed-in user, and only for themselves', async () => {
      expect((await member.api('GET', '/me/upstreams')).status).toBe(200);
      expect((await member.api('GET', '/me/grants')).status).toBe(200);
      expect((await adminApi(base, null)('GET', '/me/grants')).status).toBe(401);
    });
  });

  describe('CSRF on every state-changing call', () => {
    it.each([
      ['DELETE', (id: string) => `/grants/${id}`, undefined],
      ['POST', () => '/grants/revoke', 'body'],
      ['DELETE', (_id: string, clientId: string) => `/clients/${clientId}`, undefined],
      ['DELETE', (id: string) => `/me/grants/${id}`, undefined],
    ] as const)('%s without the token → 403 {"error":"csrf"}, and the grant stays live', async (method, path, body) => {
      const issued = await grant(ADMIN, 'u');
      const id = (await grantOf(issued)).id;
      const res = await api(method, path(id, issued.clientId), body ? { clientId: issued.clientId } : undefined, { 'X-CSRF-Token': 'not-the-token' });
      expect(res.status).toBe(403);
      expect(res.json.error).toBe('csrf');
      expect((await mcpPost(gw.mcpUrl('u'), issued.accessToken)).status).toBe(200);
    });

    it('PUT and DELETE /me/credentials without the token → 403, nothing stored', async () => {
      const put = await member.api('PUT', '/me/credentials/personal', { values: { api_key: 'x' } }, { 'X-CSRF-Token': '' });
      expect(put.status).toBe(403);
      const del = await member.api('DELETE', '/me/credentials/personal', undefined, { 'Sec-Fetch-Site': 'cross-site' });
      expect(del.status).toBe(403);
      const mine = (await member.api('GET', '/me/upstreams')).json.items.find((u: any) => u.slug === 'personal');
      expect(mine.hasCredentials).toBe(false);
    });
  });

  describe('validation: 400 naming the field', () => {
    it.each([
      ['/grants?active=maybe', 'active', 'must be true or false'],
      ['/grants?limit=abc', 'limit', expect.any(String)],
      ['/grants?cursor=nope', 'cursor', 'is not a cursor from this list'],
      [`/grants?cursor=${Buffer.from('["a","b"]').toString('base64url')}`, 'cursor', 'is not a cursor from this list'],
      ['/grants?userId=a&userId=b', 'userId', 'must be a string'],
      ['/grants?sort=id', 'sort', 'is not a known field'],
      ['/clients?kind=static', 'kind', 'must be one of: dynamic, metadata_document, pinned'],
      ['/me/grants?active=yes', 'active', 'must be true or false'],
      ['/me/grants?userId=someone', 'userId', 'is not a known field'],
    ])('GET %s', async (path, field, problem) => {
      const res = await api('GET', path);
      expect(res.status).toBe(400);
      expect(res.json).toMatchObject({ error: 'invalid_request', fields: { [field]: problem } });
      expect(res.json.message).toContain(field);
    });

    it.each([
      ['nothing', {}, ['userId', 'clientId', 'upstream'], 'give exactly one of userId, clientId, upstream'],
      ['two targets', { userId: 'a', upstream: 'u' }, ['userId', 'upstream'], 'give exactly one of userId, clientId, upstream'],
      ['a userId that is not a string', { userId: 5 }, ['userId'], 'must be a string'],
      ['an empty upstream', { upstream: '' }, ['upstream'], expect.stringContaining('longer than or equal to 1')],
      ['an unknown field', { user: 'a' }, ['user'], 'is not a known field'],
    ])('POST /grants/revoke with %s', async (_name, body, fields, problem) => {
      const res = await api('POST', '/grants/revoke', body);
      expect(res.status).toBe(400);
      expect(Object.keys(res.json.fields).sort()).toEqual([...fields].sort());
      for (const f of fields) expect(res.json.fields[f]).toEqual(problem);
    });

    it.each([
      ['no values', {}, 'values', 'is required'],
      ['values that are not an object', { values: 'k' }, 'values', 'must be an object of field name → value'],
      ['a value that is not a string', { values: { api_key: 5 } }, 'values', 'must map each field name to a string'],
      ['a field the upstream does not have', { values: { password: 'x' } }, 'values.password', 'is not a credential field of Personal'],
      ['a value that cannot be a header value', { values: { api_key: 'line\nbreak' } }, 'values.api_key', expect.stringContaining('API key')],
      ['a missing required value', { values: { api_key: '  ' } }, 'values.api_key', 'API key is required'],
    ])('PUT /me/credentials/personal with %s', async (_name, body, field, problem) => {
      const res = await member.api('PUT', '/me/credentials/personal', body);
      expect(res.status).toBe(400);
      expect(res.json.fields).toEqual({ [field]: problem });
    });

    it('unknown ids are 404 JSON, never a 500', async () => {
      for (const [method, path] of [
        ['DELETE', '/grants/no-such-grant'],
        ['DELETE', '/clients/no-such-client'],
        ['DELETE', `/clients/${encodeURIComponent('https://nowhere.example/client.json')}`],
        ['DELETE', '/me/grants/no-such-grant'],
        ['PUT', '/me/credentials/no-such-upstream'],
        ['DELETE', '/me/credentials/no-such-upstream'],
      ]) {
        const res = await api(method, path, method === 'PUT' ? { values: {} } : undefined);
        expect(res.status).toBe(404);
        expect(res.json).toEqual({ error: 'not_found', message: expect.any(String) });
      }
    });
  });

  describe('grants', () => {
    it('lists each grant with its user, client, upstream, scope and times; lastUsedAt follows the proxy, at most once a minute', async () => {
      const issued = await grant(member.creds, 'v');
      const before = await grantOf(issued);
      expect(before).toEqual({
        id: expect.any(String),
        user: { id: member.id, email: 'member@grants.test' },
        client: { clientId: issued.clientId, name: 'app for v' },
        upstream: { slug: 'v', name: 'Upstream V' },
        scope: expect.any(String),
        createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        lastUsedAt: null,
        revokedAt: null,
        revokedReason: null,
      });
      expect((await mcpPost(gw.mcpUrl('v'), issued.accessToken)).status).toBe(200);
      const used = (await grantOf(issued)).lastUsedAt;
      expect(Date.parse(used)).toBeGreaterThanOrEqual(Date.parse(before.createdAt));
      // Within the minute, later calls do not move it (one write per grant per minute at most).
      expect((await mcpPost(gw.mcpUrl('v'), issued.accessToken)).status).toBe(200);
      expect((await grantOf(issued)).lastUsedAt).toBe(used);
    });

    it('filters by user, client, upstream and active; pages newest first without repeats', async () => {
      const client = (await registerPublicClient(base, REDIRECT, { client_name: 'filtered app' })).client_id;
      const a = await grant(member.creds, 'u', { clientId: client });
      await grant(member.creds, 'v', { clientId: client });
      await grant(ADMIN, 'u', { clientId: client });
      const byClient = await allPages(api, `/grants?clientId=${client}`, 1);
      expect(byClient.items).toHaveLength(3);
      expect(byClient.pages).toBe(3);
      expect(new Set(byClient.items.map((g) => g.id)).size).toBe(3);
      const times = byClient.items.map((g) => Date.parse(g.createdAt));
      expect(times).toEqual([...times].sort((x, y) => y - x));
      expect((await allPages(api, `/grants?clientId=${client}&userId=${member.id}`, 10)).items).toHaveLength(2);
      expect((await allPages(api, `/grants?clientId=${client}&upstream=u`, 10)).items.map((g) => g.user.email).sort()).toEqual([ADMIN.email, 'member@grants.test']);
      expect((await api('DELETE', `/grants/${(await grantOf(a, `&userId=${member.id}&upstream=u`)).id}`)).status).toBe(204);
      expect((await allPages(api, `/grants?clientId=${client}&active=true`, 10)).items).toHaveLength(2);
      const revoked = (await allPages(api, `/grants?clientId=${client}&active=false`, 10)).items;
      expect(revoked).toEqual([expect.objectContaining({ revokedAt: expect.any(String), revokedReason: 'revoked by an admin' })]);
      expect((await api('GET', '/grants?userId=nobody')).json).toEqual({ items: [], nextCursor: null });
    });

    it('revoking a grant refuses its token at once, cuts its open stream, ends its refresh token, and asks for consent again', async () => {
      const browser = new TestBrowser();
      const issued = await grant(member.creds, 'u', { browser });
      expect(issued.authorization.consentShown).toBe(true);
      const init = await mcpPost(gw.mcpUrl('u'), issued.accessToken, initializeRequest());
      expect(init.status).toBe(200);
      const gets = () => upstream.seen.filter((r) => r.method === 'GET').length;
      const getsBefore = gets();
      const stream = streamUntilClosed(gw.mcpUrl('u'), {
        Authorization: `Bearer ${issued.accessToken}`,
        Accept: 'text/event-stream',
        'Mcp-Session-Id': init.headers.get('mcp-session-id')!,
        'MCP-Protocol-Version': '2025-06-18',
      });
      for (let i = 0; i < 250 && gets() === getsBefore; i++) await new Promise((r) => setTimeout(r, 20));
      expect(gets()).toBe(getsBefore + 1);
      expect(await settledWithin(stream, 200)).toBe('still open');

      const id = (await grantOf(issued)).id;
      expect((await api('DELETE', `/grants/${id}`)).status).toBe(204);
      expect(await settledWithin(stream, 5000)).toBe('closed');
      const refused = await mcpPost(gw.mcpUrl('u'), issued.accessToken);
      expect(refused.status).toBe(401);
      expect(refused.headers.get('www-authenticate')).toContain('error="invalid_token"');
      const refresh = await tokenRequest(base, { grant_type: 'refresh_token', refresh_token: issued.refreshToken, client_id: issued.clientId });
      expect(refresh.json).toMatchObject({ error: 'invalid_grant', error_description: 'refresh token has been revoked' });
      // Revoking again changes nothing and is still fine.
      expect((await api('DELETE', `/grants/${id}`)).status).toBe(204);

      // The consent went with it: the same client needs the user's approval again.
      const again = await grant(member.creds, 'u', { clientId: issued.clientId, browser });
      expect(again.authorization.loggedIn).toBe(false);
      expect(again.authorization.consentShown).toBe(true);

      // Both admin actions are audited with the admin and the target; the second ended nothing.
      const rows = (await gw.app.get(AuditService).list({ type: 'admin.grant.revoke', limit: 1000 })).filter((r) => r.detail?.target_grant === id);
      expect(rows.map((r) => ({ userId: r.userId, detail: r.detail }))).toEqual(
        [0, 1].map((n) => ({ userId: admin.user.id, detail: { target_grant: id, target_user: member.id, client_id: issued.clientId, upstream: 'u', grants_revoked: n } })),
      );
      const ended = (await gw.app.get(AuditService).list({ type: 'grant.revoke', limit: 1000 })).filter((r) => r.detail?.grant_id === id);
      expect(ended).toHaveLength(1);
    });

    it('POST /grants/revoke ends every live grant of a client, of an upstream, or of a user', async () => {
      const shared = (await registerPublicClient(base, REDIRECT, { client_name: 'shared app' })).client_id;
      const m = await grant(member.creds, 'u', { clientId: shared });
      const a = await grant(ADMIN, 'u', { clientId: shared });
      const other = await grant(member.creds, 'u');
      const byClient = await api('POST', '/grants/revoke', { clientId: shared });
      expect(byClient.json).toEqual({ revoked: 2 });
      for (const t of [m, a]) expect((await mcpPost(gw.mcpUrl('u'), t.accessToken)).status).toBe(401);
      expect((await mcpPost(gw.mcpUrl('u'), other.accessToken)).status).toBe(200);
      expect((await api('POST', '/grants/revoke', { clientId: shared })).json).toEqual({ revoked: 0 });

      const onV = await grant(member.creds, 'v');
      const adminOnV = await grant(ADMIN, 'v');
      const byUpstream = await api('POST', '/grants/revoke', { upstream: 'v' });
      expect(byUpstream.json.revoked).toBeGreaterThanOrEqual(2);
      for (const t of [onV, adminOnV]) expect((await mcpPost(gw.mcpUrl('v'), t.accessToken)).status).toBe(401);
      expect((await mcpPost(gw.mcpUrl('u'), other.accessToken)).status).toBe(200);
      expect((await allPages(api, '/grants?upstream=v&active=true', 50)).items).toEqual([]);

      const someone = await onboard('revoked-user@grants.test');
      const theirs = [await grant(someone.creds, 'u'), await grant(someone.creds, 'v')];
      expect((await api('POST', '/grants/revoke', { userId: someone.id })).json).toEqual({ revoked: 2 });
      for (const [t, slug] of [
        [theirs[0], 'u'],
        [theirs[1], 'v'],
      ] as const) {
        expect((await mcpPost(gw.mcpUrl(slug), t.accessToken)).status).toBe(401);
      }
      expect((await mcpPost(gw.mcpUrl('u'), other.accessToken)).status).toBe(200);

      const rows = (await gw.app.get(AuditService).list({ type: 'admin.grant.revoke_all', limit: 1000 })).map((r) => ({ userId: r.userId, detail: r.detail }));
      expect(rows).toEqual(
        expect.arrayContaining([
          { userId: admin.user.id, detail: { target_client: shared, grants_revoked: 2 } },
          { userId: admin.user.id, detail: { target_user: someone.id, grants_revoked: 2 } },
          { userId: admin.user.id, detail: { upstream: 'v', grants_revoked: byUpstream.json.revoked } },
        ]),
      );
    });

    it("the user's upstream OAuth sign-in is forgotten when their last grant at that upstream ends, not before", async () => {
      const vault = gw.app.get(VaultService);
      const signIns = async () => (await vault.list(userUpstreamOwner(admin.user.id, 'crm'))).length;
      const first = await connectWithOAuth(gw.mcpUrl('crm'), ADMIN, { allowOrigins: [oauthUpstream.origin], clientName: 'crm one' });
      await first.client.close();
      // A second client reuses the same upstream sign-in (no second sign-in at the upstream).
      const second = await connectWithOAuth(gw.mcpUrl('crm'), ADMIN, { allowOrigins: [oauthUpstream.origin], clientName: 'crm two', browser: first.browser });
      await second.client.close();
      expect(oauthUpstream.authorizations).toHaveLength(1);
      expect(await signIns()).toBeGreaterThan(0);

      const live = (await allPages(api, '/grants?upstream=crm&active=true', 50)).items;
      expect(live).toHaveLength(2);
      expect((await api('DELETE', `/grants/${live[0].id}`)).status).toBe(204);
      expect(await signIns()).toBeGreaterThan(0);
      expect((await api('DELETE', `/grants/${live[1].id}`)).status).toBe(204);
      expect(await signIns()).toBe(0);
    });
  });

  describe('clients', () => {
    it('lists registered clients with kind, redirect URIs, times and live grants; filters by q and kind; pages', async () => {
      const reg = await register(base, { client_name: 'Listed Client', redirect_uris: [REDIRECT], token_endpoint_auth_method: 'client_secret_post' });
      tokens.push(reg.json.client_secret);
      const clientId = reg.json.client_id;
      const listed = (await allPages(api, '/clients?q=listed%20client', 10)).items;
      expect(listed).toEqual([{ clientId, name: 'Listed Client', kind: 'dynamic', redirectUris: [REDIRECT], createdAt: expect.any(String), lastUsedAt: null, activeGrants: 0 }]);
      const { items, pages } = await allPages(api, '/clients', 2);
      expect(new Set(items.map((c) => c.clientId)).size).toBe(items.length);
      expect(pages).toBe(Math.ceil(items.length / 2));
      const times = items.map((c) => Date.parse(c.createdAt));
      expect(times).toEqual([...times].sort((x, y) => y - x));
      expect(items.every((c) => ['dynamic', 'metadata_document', 'pinned'].includes(c.kind))).toBe(true);
      expect((await allPages(api, '/clients?kind=pinned&q=listed', 10)).items).toEqual([]);
    });

    it('a metadata document client is listed while it has live grants; deleting it revokes them and drops it', async () => {
      const { verifier, challenge } = pkce();
      const url = authorizeUrl(base, {
        response_type: 'code',
        client_id: doc.clientId,
        redirect_uri: REDIRECT,
        code_challenge: challenge,
        code_challenge_method: 'S256',
        resource: gw.mcpUrl('u'),
      });
      const authorization = await authorizeInBrowser(new TestBrowser(), url, member.creds);
      const res = await tokenRequest(base, {
        grant_type: 'authorization_code',
        code: authorization.code,
        code_verifier: verifier,
        redirect_uri: REDIRECT,
        client_id: doc.clientId,
      });
      tokens.push(res.json.access_token, res.json.refresh_token);
      expect((await mcpPost(gw.mcpUrl('u'), res.json.access_token)).status).toBe(200);

      const [entry] = (await allPages(api, '/clients?kind=metadata_document', 50)).items.filter((c) => c.clientId === doc.clientId);
      expect(entry).toEqual({
        clientId: doc.clientId,
        name: 'Doc Client',
        kind: 'metadata_document',
        redirectUris: [REDIRECT],
        createdAt: expect.any(String),
        lastUsedAt: expect.any(String),
        activeGrants: 1,
      });

      expect((await api('DELETE', `/clients/${encodeURIComponent(doc.clientId)}`)).status).toBe(204);
      expect((await mcpPost(gw.mcpUrl('u'), res.json.access_token)).status).toBe(401);
      expect((await allPages(api, '/clients', 50)).items.map((c) => c.clientId)).not.toContain(doc.clientId);
      expect((await api('DELETE', `/clients/${encodeURIComponent(doc.clientId)}`)).status).toBe(404);
    });

    it('a pinned well-known client (Claude) is listed as pinned with its grants, without fetching anything for the list', async () => {
      // claude.ai is not reachable from here: its lookup fails at once, so the pinned copy is used.
      const lookup = jest
        .spyOn(dns, 'lookup')
        .mockImplementation(((host: string, _opts: unknown, cb: (err: Error) => void) =>
          cb(Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' }))) as any);
      let code: string;
      const { verifier, challenge } = pkce();
      try {
        const url = authorizeUrl(base, {
          response_type: 'code',
          client_id: CLAUDE,
          redirect_uri: 'https://claude.ai/api/mcp/auth_callback',
          code_challenge: challenge,
          code_challenge_method: 'S256',
          resource: gw.mcpUrl('u'),
        });
        code = (await authorizeInBrowser(new TestBrowser(), url, member.creds)).code;
      } finally {
        lookup.mockRestore();
      }
      const res = await tokenRequest(base, {
        grant_type: 'authorization_code',
        code,
        code_verifier: verifier,
        redirect_uri: 'https://claude.ai/api/mcp/auth_callback',
        client_id: CLAUDE,
      });
      expect(res.status).toBe(200);
      tokens.push(res.json.access_token, res.json.refresh_token);
      const pinned = (await allPages(api, '/clients?kind=pinned', 10)).items;
      expect(pinned).toEqual([expect.objectContaining({ clientId: CLAUDE, name: 'Claude', kind: 'pinned', activeGrants: 1 })]);
      expect((await allPages(api, `/grants?clientId=${encodeURIComponent(CLAUDE)}`, 10)).items[0].client).toEqual({ clientId: CLAUDE, name: 'Claude' });
    });

    it('deleting a registered client revokes its grants (tokens refused at once), removes it and audits it', async () => {
      const clientId = (await registerPublicClient(base, REDIRECT, { client_name: 'Doomed' })).client_id;
      const m = await grant(member.creds, 'u', { clientId });
      const a = await grant(ADMIN, 'v', { clientId });
      expect((await allPages(api, '/clients?q=doomed', 10)).items[0]).toMatchObject({ clientId, activeGrants: 2, lastUsedAt: expect.any(String) });
      expect((await api('DELETE', `/clients/${clientId}`)).status).toBe(204);
      expect((await mcpPost(gw.mcpUrl('u'), m.accessToken)).status).toBe(401);
      expect((await mcpPost(gw.mcpUrl('v'), a.accessToken)).status).toBe(401);
      expect((await allPages(api, '/clients?q=doomed', 10)).items).toEqual([]);
      expect((await tokenRequest(base, { grant_type: 'refresh_token', refresh_token: m.refreshToken, client_id: clientId })).json.error).toBe('invalid_client');
      const [row] = await gw.app.get(AuditService).list({ type: 'admin.client.delete' });
      expect(row).toMatchObject({ userId: admin.user.id, detail: { target_client: clientId, name: 'Doomed', kind: 'dynamic', grants_revoked: 2 } });
    });
  });

  describe('My access', () => {
    it('lists the upstreams the member may use, with their MCP URLs and credential fields', async () => {
      const res = await member.api('GET', '/me/upstreams');
      expect(res.json.items.map((u: any) => u.slug).sort()).toEqual(['crm', 'personal', 'u', 'v']);
      expect(res.json.items.find((u: any) => u.slug === 'u')).toEqual({
        slug: 'u',
        name: 'Upstream U',
        mcpUrl: gw.mcpUrl('u'),
        authMode: 'none',
        needsCredentials: false,
        hasCredentials: false,
        credentialFields: [],
      });
      expect(res.json.items.find((u: any) => u.slug === 'personal')).toMatchObject({
        authMode: 'user_credentials',
        needsCredentials: true,
        credentialFields: [{ name: 'api_key', label: 'API key', secret: true, required: true }],
      });
      expect((await api('GET', '/me/upstreams')).json.items.map((u: any) => u.slug)).toContain('restricted');
    });

    it('stores, replaces and deletes the credentials the consent page asks for; revoking a grant keeps them', async () => {
      const personal = async () => (await member.api('GET', '/me/upstreams')).json.items.find((u: any) => u.slug === 'personal');
      expect((await member.api('PUT', '/me/credentials/personal', { values: { api_key: API_KEY } })).status).toBe(204);
      expect((await personal()).hasCredentials).toBe(true);
      // A new client still asks for consent; its blank credential field keeps the stored key, which the upstream gets.
      const issued = await grant(member.creds, 'personal');
      expect(issued.authorization.consentShown).toBe(true);
      const whoami = await mcpPost(gw.mcpUrl('personal'), issued.accessToken);
      expect(whoami.status).toBe(200);
      expect(upstream.seen.some((r) => r.headers['x-api-key'] === API_KEY)).toBe(true);
      // A blank value keeps the stored one.
      expect((await member.api('PUT', '/me/credentials/personal', { values: { api_key: '' } })).status).toBe(204);
      expect((await personal()).hasCredentials).toBe(true);

      // Ending the grant keeps what the user typed: it is theirs to manage here.
      const [mine] = (await member.api('GET', '/me/grants?active=true')).json.items.filter((g: any) => g.upstream.slug === 'personal');
      expect((await member.api('DELETE', `/me/grants/${mine.id}`)).status).toBe(204);
      expect((await personal()).hasCredentials).toBe(true);

      expect((await member.api('DELETE', '/me/credentials/personal')).status).toBe(204);
      expect((await personal()).hasCredentials).toBe(false);
      const rows = (await gw.app.get(AuditService).list({ limit: 1000 })).filter((r) => r.userId === member.id && r.upstreamSlug === 'personal');
      expect(rows.map((r) => r.type)).toContain('credentials.change');
    });

    it('credentials: an upstream without credential fields is 409; one the member may not use is 404 like an unknown one', async () => {
      const none = await member.api('PUT', '/me/credentials/u', { values: {} });
      expect(none.status).toBe(409);
      expect(none.json).toEqual({ error: 'conflict', message: 'Upstream U takes no credentials from its users' });
      for (const slug of ['restricted', 'nope']) {
        const res = await member.api('PUT', `/me/credentials/${slug}`, { values: { api_key: 'x' } });
        expect(res.status).toBe(404);
        expect(res.json).toEqual({ error: 'not_found', message: 'no such MCP server' });
      }
    });

    it("a member lists and revokes their own grants, and can neither see nor revoke another user's", async () => {
      const mine = await grant(member.creds, 'u');
      const theirs = await grant(ADMIN, 'u');
      const theirId = (await grantOf(theirs)).id;
      const listed = (await allPages(member.api, '/me/grants', 2)).items;
      expect(listed.length).toBeGreaterThan(0);
      expect(listed.every((g) => g.user.id === member.id)).toBe(true);
      expect(listed.map((g) => g.id)).not.toContain(theirId);

      const refused = await member.api('DELETE', `/me/grants/${theirId}`);
      expect(refused.status).toBe(404);
      expect(refused.json).toEqual({ error: 'not_found', message: 'no such grant' });
      expect((await mcpPost(gw.mcpUrl('u'), theirs.accessToken)).status).toBe(200);

      const myId = listed.find((g) => g.client.clientId === mine.clientId).id;
      expect((await member.api('DELETE', `/me/grants/${myId}`)).status).toBe(204);
      expect((await mcpPost(gw.mcpUrl('u'), mine.accessToken)).status).toBe(401);
      expect((await allPages(member.api, '/me/grants?active=true', 50)).items.map((g) => g.id)).not.toContain(myId);
      const [row] = (await gw.app.get(AuditService).list({ type: 'grant.revoke', limit: 1000 })).filter((r) => r.detail?.grant_id === myId);
      expect(row).toMatchObject({ userId: member.id, detail: { reason: 'revoked by its user' } });
    });
  });

  it('no response carries a secret: no token, no token hash, no client secret, no credential value', async () => {
    const raw = await gw.app.get(DataSource).query('SELECT token_hash FROM access_tokens UNION ALL SELECT token_hash FROM refresh_tokens');
    const secrets = [...tokens.filter(Boolean), ...tokens.filter(Boolean).map(sha256), ...raw.map((r: { token_hash: string }) => r.token_hash), API_KEY];
    expect(tokens.length).toBeGreaterThan(20);
    const seen: HttpResult[] = calls.flatMap((c) => c.seen);
    expect(seen.length).toBeGreaterThan(50);
    for (const res of seen) {
      for (const secret of secrets) expect(res.text).not.toContain(secret);
      expect(res.text).not.toMatch(/token_?hash|tokenHash|secret_?hash|secretHash|client_secret|registration_?source/i);
    }
  });
});
