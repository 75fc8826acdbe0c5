import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AuditService } from '../../server/src/audit/audit.service';
import { GroupsService } from '../../server/src/identity/groups.service';
import { UsersService } from '../../server/src/identity/users.service';
import { UpstreamsService } from '../../server/src/upstreams/upstreams.service';
import { startUpstream, RunningUpstream } from '../fixtures/upstream-mcp-server';
import { TestBrowser } from '../helpers/browser';
import { startTestGateway, TestGateway } from '../helpers/gateway';
import { authorizeInBrowser, connectWithOAuth } from '../helpers/oauth-client';
import { authorizeUrl, mcpPost, pkce, registerPublicClient, tokenRequest } from '../helpers/raw-oauth';

const STATIC_KEY = 'static-upstream-key-5c1e';
const ALICE = { email: 'alice@example.test', password: 'alice password 123' };
const BOB = { email: 'bob@partner.test', password: 'bob password 456' };
const ALICE_KEY = 'alice-personal-key-77aa';
const BOB_KEY = 'bob-personal-key-88bb';
const callback = 'http://127.0.0.1:45999/callback';

describe('upstream registry, auth modes and allow-lists', () => {
  let locked: RunningUpstream;
  let open: RunningUpstream;
  let gw: TestGateway;

  beforeAll(async () => {
    locked = await startUpstream({ requiredHeaders: { 'x-api-key': STATIC_KEY } });
    open = await startUpstream();
    process.env.TEST_STATIC_KEY = STATIC_KEY;
    gw = await startTestGateway({
      config: {
        upstreams: [
          { slug: 'static', url: locked.url, auth: { mode: 'headers', headers: { 'X-API-Key': '${TEST_STATIC_KEY}' } } },
          {
            slug: 'personal',
            name: 'Personal keys',
            url: open.url,
            auth: {
              mode: 'user_credentials',
              fields: [
                { name: 'api_key', label: 'API key', secret: true },
                { name: 'team', label: 'Team', secret: false, required: false },
              ],
              headers: { 'X-API-Key': '{{api_key}}', 'X-Team': '{{team}}' },
            },
          },
          { slug: 'restricted', name: 'Restricted', url: open.url, allow: { emails: [ALICE.email], groups: ['eng'] } },
        ],
      },
    });
    const users = gw.app.get(UsersService);
    await users.create(ALICE);
    await users.create(BOB);
  });
  afterAll(async () => {
    await gw?.close();
    await locked.close();
    await open.close();
    gw?.cleanup();
  });

  it('headers mode: the upstream gets the key from the vault; config and database hold no plaintext of it', async () => {
    const { client } = await connectWithOAuth(gw.mcpUrl('static'), ALICE);
    const res = await client.callTool({ name: 'whoami', arguments: {} });
    expect(res.content).toEqual([{ type: 'text', text: STATIC_KEY }]);
    await client.close();
  });

  it('user_credentials mode: each user enters a key at consent and reaches the upstream as themselves', async () => {
    const browser = new TestBrowser();
    const a = await connectWithOAuth(gw.mcpUrl('personal'), ALICE, { browser, extraConsentFields: { cred_api_key: ALICE_KEY, cred_team: 'blue' } });
    const b = await connectWithOAuth(gw.mcpUrl('personal'), BOB, { extraConsentFields: { cred_api_key: BOB_KEY } });
    expect((await a.client.callTool({ name: 'whoami', arguments: {} })).content).toEqual([{ type: 'text', text: ALICE_KEY }]);
    expect((await b.client.callTool({ name: 'whoami', arguments: {} })).content).toEqual([{ type: 'text', text: BOB_KEY }]);
    const aliceCall = open.seen.find((r) => r.headers['x-api-key'] === ALICE_KEY)!;
    expect(aliceCall.headers['x-team']).toBe('blue');
    // Bob left the optional field empty: that header is not sent at all.
    expect(open.seen.find((r) => r.headers['x-api-key'] === BOB_KEY)!.headers['x-team']).toBeUndefined();
    await a.client.close();
    await b.client.close();
  });

  it('user_credentials mode: the consent form masks secrets, requires them, and can replace them later', async () => {
    const reg = await registerPublicClient(gw.config.publicUrl, callback);
    const url = authorizeUrl(gw.config.publicUrl, {
      response_type: 'code',
      client_id: reg.client_id,
      redirect_uri: callback,
      code_challenge: pkce().challenge,
      code_challenge_method: 'S256',
      resource: gw.mcpUrl('personal'),
    });
    const browser = new TestBrowser();
    const login = await browser.follow(url);
    const consent = await browser.follow(await browser.submit(login, { email: ALICE.email, password: ALICE.password }));
    expect(consent.body).toContain('type="password"');
    expect(consent.body).not.toContain(ALICE_KEY);
    expect(consent.body).toContain('Leave a field blank to keep');

    const { verifier, challenge } = pkce();
    const carol = { email: 'carol@example.test', password: 'carol password 789' };
    await gw.app.get(UsersService).create(carol);
    const fresh = new TestBrowser();
    const url2 = authorizeUrl(gw.config.publicUrl, {
      response_type: 'code',
      client_id: reg.client_id,
      redirect_uri: callback,
      code_challenge: challenge,
      code_challenge_method: 'S256',
      resource: gw.mcpUrl('personal'),
    });
    const login2 = await fresh.follow(url2);
    const consent2 = await fresh.follow(await fresh.submit(login2, { email: carol.email, password: carol.password }));
    const missing = await fresh.submit(consent2, { cred_api_key: '' }, { button: 'decision=approve' });
    expect(missing.status).toBe(400);
    expect(missing.body).toContain('API key is required');

    const replaced = await authorizeInBrowser(fresh, url2, carol, { extraConsentFields: { cred_api_key: 'carol-key' } });
    const tokens = await tokenRequest(gw.config.publicUrl, {
      grant_type: 'authorization_code',
      code: replaced.code,
      code_verifier: verifier,
      redirect_uri: callback,
      client_id: reg.client_id,
    });
    const res = await mcpPost(gw.mcpUrl('personal'), tokens.json.access_token);
    expect(res.status).toBe(200);
    expect(open.seen[open.seen.length - 1].headers['x-api-key']).toBe('carol-key');
  });

  it('the raw SQLite file contains none of the secret values', async () => {
    const dbFiles = ['gatehouse.db', 'gatehouse.db-wal'].map((f) => {
      try {
        return readFileSync(join(gw.dataDir, f)).toString('latin1');
      } catch {
        return '';
      }
    });
    for (const secret of [STATIC_KEY, ALICE_KEY, BOB_KEY, 'carol-key']) {
      for (const content of dbFiles) expect(content).not.toContain(secret);
    }
  });

  describe('allow-lists', () => {
    it('refuses a user not on the list at /authorize with a clear page and an audit row, and issues no code', async () => {
      const reg = await registerPublicClient(gw.config.publicUrl, callback);
      const url = authorizeUrl(gw.config.publicUrl, {
        response_type: 'code',
        client_id: reg.client_id,
        redirect_uri: callback,
        code_challenge: pkce().challenge,
        code_challenge_method: 'S256',
        resource: gw.mcpUrl('restricted'),
      });
      const browser = new TestBrowser();
      const login = await browser.follow(url);
      const page = await browser.follow(await browser.submit(login, { email: BOB.email, password: BOB.password }));
      expect(page.status).toBe(403);
      expect(page.body).toContain('not allowed to use');
      expect(page.location).toBeUndefined();
      const rows = await gw.app.get(AuditService).list({ type: 'policy.deny' });
      expect(rows.some((r) => r.upstreamSlug === 'restricted' && r.detail?.step === 'authorize')).toBe(true);
    });

    it('admits a group member, then refuses at the proxy with 403 and an audit row once the list changes', async () => {
      const bob = (await gw.app.get(UsersService).findByEmail(BOB.email))!;
      await gw.app.get(GroupsService).addMember('eng', bob.id);
      const { client, provider } = await connectWithOAuth(gw.mcpUrl('restricted'), BOB);
      expect((await client.callTool({ name: 'echo', arguments: { text: 'in' } })).content).toEqual([{ type: 'text', text: 'in' }]);
      await client.close();

      await gw.app.get(GroupsService).removeMember('eng', bob.id);
      const token = provider.tokens()!.access_token;
      const denied = await mcpPost(gw.mcpUrl('restricted'), token);
      expect(denied.status).toBe(403);

      await gw.app.get(GroupsService).addMember('eng', bob.id);
      expect((await mcpPost(gw.mcpUrl('restricted'), token)).status).toBe(200);
      const upstreams = gw.app.get(UpstreamsService);
      await upstreams.setAllowList('restricted', { users: [], emails: [ALICE.email], emailDomains: [], groups: [] });
      expect((await mcpPost(gw.mcpUrl('restricted'), token)).status).toBe(403);

      const rows = await gw.app.get(AuditService).list({ type: 'policy.deny' });
      expect(rows.filter((r) => r.upstreamSlug === 'restricted' && r.userId === bob.id && r.status === 403).length).toBeGreaterThanOrEqual(2);
    });

    it('matches email domains', async () => {
      await gw.app.get(UpstreamsService).setAllowList('restricted', { users: [], emails: [], emailDomains: ['partner.test'], groups: [] });
      const { client } = await connectWithOAuth(gw.mcpUrl('restricted'), BOB);
      expect((await client.listTools()).tools.length).toBeGreaterThan(0);
      await client.close();
    });
  });

  it('a disabled user is refused at the proxy at once, token or not', async () => {
    const dave = { email: 'dave@example.test', password: 'dave password 000' };
    const users = gw.app.get(UsersService);
    const created = await users.create(dave);
    const { client, provider } = await connectWithOAuth(gw.mcpUrl('static'), dave);
    await client.close();
    expect((await mcpPost(gw.mcpUrl('static'), provider.tokens()!.access_token)).status).toBe(200);
    await users.setDisabled(created.id, true);
    expect((await mcpPost(gw.mcpUrl('static'), provider.tokens()!.access_token)).status).toBe(403);
    const browser = new TestBrowser();
    const login = await browser.submit(await browser.get(`${gw.config.publicUrl}/login`), dave);
    expect(login.status).toBe(401);
  });

  it('an unknown or disabled slug → 404 JSON', async () => {
    await gw.app.get(UpstreamsService).setEnabled('restricted', false);
    const res = await mcpPost(gw.mcpUrl('restricted'), 'whatever');
    expect(res.status).toBe(404);
    expect((await fetch(`${gw.config.publicUrl}/.well-known/oauth-protected-resource/mcp/restricted`)).status).toBe(404);
    await gw.app.get(UpstreamsService).setEnabled('restricted', true);
  });

  it('the registry survives a restart, and an upstream removed from config is disabled', async () => {
    const { dataDir, port } = gw;
    await gw.close();
    gw = await startTestGateway({ dataDir, port, config: { upstreams: [{ slug: 'static', url: locked.url, auth: { mode: 'headers', headers: { 'X-API-Key': STATIC_KEY } } }] } });
    expect(
      gw.app
        .get(UpstreamsService)
        .list()
        .map((u) => u.slug),
    ).toEqual(['static']);
    const { client } = await connectWithOAuth(gw.mcpUrl('static'), ALICE);
    expect((await client.callTool({ name: 'whoami', arguments: {} })).content).toEqual([{ type: 'text', text: STATIC_KEY }]);
    await client.close();
  });
});
