import { AuditService } from '../../server/src/audit/audit.service';
import { UsersService } from '../../server/src/identity/users.service';
import { startUpstream, RunningUpstream } from '../fixtures/upstream-mcp-server';
import { adminApi, AdminCall, allPages, signInToConsole } from '../helpers/admin-api';
import { TestBrowser } from '../helpers/browser';
import { ADMIN, freePort, startTestGateway, TestGateway } from '../helpers/gateway';
import { connectWithOAuth } from '../helpers/oauth-client';
import { mcpPost, obtainCode, pkce, registerPublicClient, tokenRequest } from '../helpers/raw-oauth';

const SECRET = 'admin-typed-upstream-key-7f3e';
const MEMBER = { email: 'member@example.test', password: 'member password 123' };
const AUDITOR = { email: 'auditor@example.test', password: 'auditor password 123' };
const REDIRECT = 'http://127.0.0.1:7792/cb';

describe('admin API: upstreams', () => {
  let locked: RunningUpstream;
  let open: RunningUpstream;
  let gw: TestGateway;
  let base: string;
  let api: AdminCall;
  const callers: AdminCall[] = [];

  /** A token for the user at the upstream, through the real authorization code flow. */
  async function accessToken(creds: { email: string; password: string }, slug: string): Promise<string> {
    const client = await registerPublicClient(base, REDIRECT);
    const { verifier, challenge } = pkce();
    const code = await obtainCode(base, new TestBrowser(), creds, { clientId: client.client_id, redirectUri: REDIRECT, challenge, resource: gw.mcpUrl(slug) });
    const res = await tokenRequest(base, {
      grant_type: 'authorization_code',
      code,
      code_verifier: verifier,
      redirect_uri: REDIRECT,
      client_id: client.client_id,
      resource: gw.mcpUrl(slug),
    });
    expect(res.status).toBe(200);
    return res.json.access_token;
  }

  beforeAll(async () => {
    locked = await startUpstream({ requiredHeaders: { 'x-api-key': SECRET } });
    open = await startUpstream();
    gw = await startTestGateway({
      config: {
        upstreams: [{ slug: 'from-file', name: 'From the file', url: open.url }],
        upstreams_policy: { allow_private_networks: true },
      },
    });
    base = gw.config.publicUrl;
    api = adminApi(base, await signInToConsole(base, ADMIN));
    callers.push(api);
    const users = gw.app.get(UsersService);
    await users.create({ ...MEMBER, role: 'member' });
    await users.create({ ...AUDITOR, role: 'auditor' });
  });
  afterAll(async () => {
    await gw?.close();
    await locked?.close();
    await open?.close();
    gw?.cleanup();
  });

  it('GET /upstreams/auth-modes describes each mode’s form', async () => {
    const res = await api('GET', '/upstreams/auth-modes');
    expect(res.status).toBe(200);
    expect(res.json.map((m: any) => m.mode)).toEqual(['none', 'headers', 'user_credentials', 'oauth']);
    expect(res.json.find((m: any) => m.mode === 'headers')).toEqual({
      mode: 'headers',
      label: 'Static headers',
      fields: [expect.objectContaining({ name: 'headers', type: 'keyvalue', required: true, secret: true, help: expect.any(String) })],
    });
  });

  it('an admin adds a headers-mode upstream; an MCP client then uses /mcp/<slug> through the normal OAuth flow, and the upstream gets the key', async () => {
    const created = await api('POST', '/upstreams', {
      slug: 'console-locked',
      name: 'Console locked',
      url: locked.url,
      auth: { mode: 'headers', headers: { 'X-Api-Key': SECRET } },
    });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({
      slug: 'console-locked',
      source: 'console',
      readOnlyReason: null,
      enabled: true,
      mcpUrl: gw.mcpUrl('console-locked'),
      auth: { mode: 'headers', summary: 'static headers: X-Api-Key', settings: { headers: { 'X-Api-Key': '' } }, secretsSet: ['header X-Api-Key'] },
      status: { lastCheckAt: null, lastError: null, requests24h: null, errors24h: null, p50Ms: null, p95Ms: null },
    });
    const { client } = await connectWithOAuth(gw.mcpUrl('console-locked'), ADMIN);
    expect((await client.callTool({ name: 'whoami', arguments: {} })).content).toEqual([{ type: 'text', text: SECRET }]);
    await client.close();
    const [row] = await gw.app.get(AuditService).list({ type: 'admin.upstream.create' });
    expect(row).toMatchObject({ upstreamSlug: 'console-locked', outcome: 'success', userId: expect.any(String) });
  });

  it('test connection lists the fixture’s tools with their descriptions, and the list shows the check', async () => {
    const res = await api('POST', '/upstreams/console-locked/test');
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ ok: true, serverInfo: { name: 'gatehouse-test-upstream', version: '1.0.0' }, protocolVersion: expect.any(String) });
    expect(res.json.tools).toEqual(
      expect.arrayContaining([
        { name: 'echo', title: null, description: 'Echo the given text back' },
        { name: 'whoami', title: null, description: 'Return the x-api-key header the upstream received' },
      ]),
    );
    const list = await allPages(api, '/upstreams', 1);
    expect(list.pages).toBe(2);
    const view = list.items.find((u) => u.slug === 'console-locked');
    expect(view.status).toMatchObject({ lastCheckAt: expect.any(Number), lastError: null });
  });

  it('test connection on a dead port answers stage "connect"; on an upstream refusing the key, stage "auth"', async () => {
    const deadPort = await freePort();
    expect((await api('POST', '/upstreams', { slug: 'dead', url: `http://127.0.0.1:${deadPort}/mcp` })).status).toBe(201);
    const dead = await api('POST', '/upstreams/dead/test');
    expect(dead.status).toBe(200);
    expect(dead.json).toEqual({ ok: false, stage: 'connect', message: `connect ECONNREFUSED 127.0.0.1:${deadPort}` });

    expect((await api('POST', '/upstreams', { slug: 'wrong-key', url: locked.url, auth: { mode: 'headers', headers: { 'X-Api-Key': 'not-it' } } })).status).toBe(201);
    const refused = await api('POST', '/upstreams/wrong-key/test');
    expect(refused.json).toEqual({ ok: false, stage: 'auth', message: expect.stringMatching(/^the upstream refused the credential: HTTP 401 to initialize/) });
    expect((await api('GET', '/upstreams/wrong-key')).json.status.lastError).toMatch(/^auth: /);
  });

  it('an edit keeps the secret when it is left blank, and a new URL takes effect at the proxy at once', async () => {
    const kept = await api('PATCH', '/upstreams/console-locked', { name: 'Renamed', auth: { mode: 'headers', headers: { 'X-Api-Key': '' } } });
    expect(kept.status).toBe(200);
    expect(kept.json).toMatchObject({ name: 'Renamed', auth: { secretsSet: ['header X-Api-Key'] } });
    expect((await api('POST', '/upstreams/console-locked/test')).json.ok).toBe(true);

    const token = await accessToken(ADMIN, 'console-locked');
    expect((await mcpPost(gw.mcpUrl('console-locked'), token)).status).toBe(200);
    const before = open.seen.length;
    expect((await api('PATCH', '/upstreams/console-locked', { url: open.url })).status).toBe(200);
    const moved = await mcpPost(gw.mcpUrl('console-locked'), token);
    expect(moved.status).toBe(200);
    expect(open.seen.slice(before).map((r) => r.headers['x-api-key'])).toContain(SECRET);
    expect((await api('PATCH', '/upstreams/console-locked', { url: locked.url })).status).toBe(200);
  });

  it('refuses bad input with 400 naming the field', async () => {
    const bad = await api('POST', '/upstreams', { slug: 'Not A Slug', url: 'nope', timeoutSeconds: 'soon' });
    expect(bad.status).toBe(400);
    expect(bad.json).toMatchObject({ error: 'invalid_request', fields: { timeoutSeconds: expect.any(String) } });
    const semantic = await api('POST', '/upstreams', { slug: 'Not A Slug', url: 'nope' });
    expect(semantic.status).toBe(400);
    expect(semantic.json.fields).toEqual({ slug: 'must be lowercase letters, digits and dashes', url: 'must be a URL address' });
    const clash = await api('POST', '/upstreams', { slug: 'from-file', url: open.url });
    expect(clash.status).toBe(409);
    expect(clash.json.error).toBe('conflict');
  });

  it('upstreams of config.yaml are listed as managed by the file and refuse every change, the allow-list included', async () => {
    const view = (await api('GET', '/upstreams/from-file')).json;
    expect(view).toMatchObject({ source: 'config', readOnlyReason: expect.stringContaining('is managed by config.yaml') });
    const attempts = [
      await api('PATCH', '/upstreams/from-file', { name: 'x' }),
      await api('PUT', '/upstreams/from-file/allow', { emails: ['x@example.test'] }),
      await api('POST', '/upstreams/from-file/disable'),
      await api('DELETE', '/upstreams/from-file'),
    ];
    for (const res of attempts) {
      expect(res.status).toBe(409);
      expect(res.json).toEqual({
        error: 'read_only',
        message: expect.stringMatching(/^upstream "from-file" is managed by config\.yaml .*; edit the file and restart the gateway to change it$/),
      });
    }
    // Testing is not a change: allowed for them too.
    expect((await api('POST', '/upstreams/from-file/test')).json.ok).toBe(true);
  });

  it('the allow-list editor restricts a console upstream at the proxy at once', async () => {
    expect((await api('POST', '/upstreams', { slug: 'team-only', url: open.url })).status).toBe(201);
    const token = await accessToken(MEMBER, 'team-only');
    expect((await mcpPost(gw.mcpUrl('team-only'), token)).status).toBe(200);
    const res = await api('PUT', '/upstreams/team-only/allow', { users: [], emails: [ADMIN.email.toUpperCase()], emailDomains: [], groups: [] });
    expect(res.status).toBe(200);
    expect(res.json.allow).toEqual({ users: [], emails: [ADMIN.email], emailDomains: [], groups: [] });
    expect((await mcpPost(gw.mcpUrl('team-only'), token)).status).toBe(403);
  });

  it('members get 403; auditors read but change nothing', async () => {
    const member = adminApi(base, await signInToConsole(base, MEMBER));
    const auditor = adminApi(base, await signInToConsole(base, AUDITOR));
    callers.push(member, auditor);
    for (const [method, path] of [
      ['GET', '/upstreams'],
      ['GET', '/upstreams/auth-modes'],
      ['POST', '/upstreams/console-locked/test'],
      ['DELETE', '/upstreams/dead'],
    ] as const) {
      const res = await member(method, path);
      expect(res.status).toBe(403);
      expect(res.json).toEqual({ error: 'forbidden' });
    }
    expect((await auditor('GET', '/upstreams')).status).toBe(200);
    expect((await auditor('GET', '/upstreams/console-locked')).status).toBe(200);
    expect((await auditor('POST', '/upstreams/console-locked/test')).status).toBe(403);
    expect((await auditor('POST', '/upstreams', { slug: 'nope', url: open.url })).status).toBe(403);
    expect((await adminApi(base, null)('GET', '/upstreams')).status).toBe(401);
  });

  it('a change without the CSRF token is refused', async () => {
    const res = await api('POST', '/upstreams', { slug: 'no-csrf', url: open.url }, { 'X-CSRF-Token': 'wrong' });
    expect(res.status).toBe(403);
    expect(res.json.error).toBe('csrf');
  });

  it('delete ends its grants, so a later upstream of the same slug does not honour their tokens', async () => {
    const token = await accessToken(ADMIN, 'dead');
    expect((await api('DELETE', '/upstreams/dead')).status).toBe(204);
    expect((await api('GET', '/upstreams/dead')).status).toBe(404);
    expect((await mcpPost(gw.mcpUrl('dead'), token)).status).toBe(404);
    expect((await api('POST', '/upstreams', { slug: 'dead', url: open.url })).status).toBe(201);
    const reused = await mcpPost(gw.mcpUrl('dead'), token);
    expect(reused.status).toBe(401);
    expect(reused.headers.get('www-authenticate')).toContain('invalid_token');
  });

  it('no response of the admin API ever carried the header value', () => {
    const bodies = callers.flatMap((c) => c.seen.map((r) => r.text));
    expect(bodies.length).toBeGreaterThan(20);
    for (const body of bodies) expect(body).not.toContain(SECRET);
  });
});

describe('admin API: upstreams with upstreams_policy.allow_private_networks false (the default)', () => {
  let upstream: RunningUpstream;
  let gw: TestGateway;
  beforeAll(async () => {
    upstream = await startUpstream();
  });
  afterAll(async () => {
    await gw?.close();
    await upstream.close();
    gw?.cleanup();
  });

  let port: number;

  it('a loopback upstream cannot be added from the console; the message names the setting', async () => {
    port = await freePort();
    gw = await startTestGateway({ port });
    const api = adminApi(gw.config.publicUrl, await signInToConsole(gw.config.publicUrl, ADMIN));
    const res = await api('POST', '/upstreams', { slug: 'lan', url: upstream.url });
    expect(res.status).toBe(400);
    expect(res.json.fields.url).toMatch(/^points at 127\.0\.0\.1 is not a public address \(loopback\): .*upstreams_policy\.allow_private_networks: true/);
  });

  it('a console upstream on loopback, added while the setting was true, is refused by the proxy and by test connection without any request reaching it', async () => {
    const dataDir = gw.dataDir;
    await gw.close();
    gw = await startTestGateway({ dataDir, port, config: { upstreams_policy: { allow_private_networks: true } } });
    const api = adminApi(gw.config.publicUrl, await signInToConsole(gw.config.publicUrl, ADMIN));
    expect((await api('POST', '/upstreams', { slug: 'lan', url: upstream.url })).status).toBe(201);
    const client = await registerPublicClient(gw.config.publicUrl, REDIRECT);
    const { verifier, challenge } = pkce();
    const code = await obtainCode(gw.config.publicUrl, new TestBrowser(), ADMIN, { clientId: client.client_id, redirectUri: REDIRECT, challenge, resource: gw.mcpUrl('lan') });
    const token = (
      await tokenRequest(gw.config.publicUrl, { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT, client_id: client.client_id })
    ).json.access_token;
    expect((await mcpPost(gw.mcpUrl('lan'), token)).status).toBe(200);
    await gw.close();

    gw = await startTestGateway({ dataDir, port });
    const seen = upstream.seen.length;
    const proxied = await mcpPost(gw.mcpUrl('lan'), token);
    expect(proxied.status).toBe(502);
    const again = adminApi(gw.config.publicUrl, await signInToConsole(gw.config.publicUrl, ADMIN));
    const test = await again('POST', '/upstreams/lan/test');
    expect(test.json).toEqual({ ok: false, stage: 'connect', message: expect.stringContaining('127.0.0.1 is not a public address (loopback)') });
    expect(upstream.seen.length).toBe(seen);
  });
});
