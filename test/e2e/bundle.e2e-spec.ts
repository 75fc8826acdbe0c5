import { request } from 'node:http';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import { AuditService } from '../../server/src/audit/audit.service';
import { BundleCatalogue } from '../../server/src/bundle/bundle-catalogue';
import { UsersService } from '../../server/src/identity/users.service';
import { UpstreamsService } from '../../server/src/upstreams/upstreams.service';
import { FIXTURE_USER, RunningOAuthUpstream, startOAuthUpstream } from '../fixtures/upstream-oauth-server';
import { RunningUpstream, startUpstream } from '../fixtures/upstream-mcp-server';
import { adminApi, signInToConsole } from '../helpers/admin-api';
import { BrowserResponse, TestBrowser } from '../helpers/browser';
import { ADMIN, freePort, startTestGateway, TestGateway } from '../helpers/gateway';
import { connectWithOAuth, TestOAuthProvider } from '../helpers/oauth-client';
import { call, mcpPost, obtainCode, pkce, registerPublicClient, tokenRequest } from '../helpers/raw-oauth';
import { text, until } from '../helpers/mcp-results';

const NOTES_KEY = 'notes-static-key-19af';
const ALICE = { email: 'alice@example.test', password: 'alice password 123' };
const BOB = { email: 'bob@example.test', password: 'bob password 456' };
const ALICE_KEY = 'alice-personal-key-2b7c';

describe('the bundle: one connector URL (/mcp) for every upstream a member may use', () => {
  let notes: RunningUpstream;
  let personal: RunningUpstream;
  let crm: RunningOAuthUpstream;
  let gw: TestGateway;
  let bundleUrl: string;
  const clients: Client[] = [];

  beforeAll(async () => {
    notes = await startUpstream({ requiredHeaders: { 'x-api-key': NOTES_KEY } });
    personal = await startUpstream({ stateless: true });
    crm = await startOAuthUpstream();
    process.env.TEST_BUNDLE_NOTES_KEY = NOTES_KEY;
    const closedPort = await freePort();
    gw = await startTestGateway({
      config: {
        upstreams: [
          { slug: 'notes', name: 'Notes', url: notes.url, auth: { mode: 'headers', headers: { 'X-API-Key': '${TEST_BUNDLE_NOTES_KEY}' } } },
          {
            slug: 'personal',
            name: 'Personal',
            url: personal.url,
            auth: { mode: 'user_credentials', fields: [{ name: 'api_key', label: 'API key', secret: true }], headers: { 'X-API-Key': '{{api_key}}' } },
          },
          { slug: 'crm', name: 'CRM', url: crm.url, auth: { mode: 'oauth' } },
          { slug: 'down', name: 'Down', url: `http://127.0.0.1:${closedPort}/mcp` },
          { slug: 'bobs', name: 'Bob only', url: personal.url, allow: { emails: [BOB.email] } },
        ],
      },
    });
    bundleUrl = `${gw.config.publicUrl}/mcp`;
    await gw.app.get(UsersService).create(ALICE);
    await gw.app.get(UsersService).create(BOB);
    // Alice's own key for the user_credentials upstream, entered at its consent page.
    const direct = await connectWithOAuth(gw.mcpUrl('personal'), ALICE, { extraConsentFields: { cred_api_key: ALICE_KEY } });
    await direct.client.close();
  });
  afterAll(async () => {
    for (const c of clients) await c.close().catch(() => undefined);
    await gw?.close();
    await notes.close();
    await personal.close();
    await crm.close();
    gw?.cleanup();
  });

  /** The SDK's OAuth flow against the bundle, with the bundle's sign-in pages answered by `onSignInPage`. */
  async function connectBundle(creds: typeof ALICE, onSignInPage: (page: BrowserResponse) => 'signin' | 'skip', url = bundleUrl) {
    const provider = new TestOAuthProvider();
    const first = new Client({ name: 'bundle-e2e', version: '0' });
    await expect(first.connect(new StreamableHTTPClientTransport(new URL(url), { authProvider: provider }))).rejects.toBeInstanceOf(UnauthorizedError);
    const authUrl = provider.lastAuthorizationUrl!;
    const browser = new TestBrowser();
    const signInPages: string[] = [];
    let res = await browser.get(authUrl);
    let code: string | null = null;
    for (let step = 0; step < 25 && !code; step++) {
      if (res.location) {
        const loc = new URL(res.location);
        if (loc.href.startsWith(provider.redirectUrl)) {
          code = loc.searchParams.get('code');
          if (!code) throw new Error(`no code: ${loc.href}`);
          break;
        }
        res = await browser.get(loc);
        continue;
      }
      const forms = browser.forms(res);
      if (forms.some((f) => f.controls.some((c) => c.name === 'password'))) {
        res = await browser.submit(res, { email: creds.email, password: creds.password });
      } else if (forms.some((f) => f.buttons.some((b) => b.name === 'decision'))) {
        res = await browser.submit(res, {}, { button: 'decision=approve' });
      } else if (res.body.includes('id="bundle-signin"')) {
        signInPages.push(/<h1>([^<]*)<\/h1>/.exec(res.body)![1]);
        const id = onSignInPage(res) === 'signin' ? 'bundle-signin' : 'bundle-skip';
        const href = new RegExp(`id="${id}" href="([^"]+)"`).exec(res.body)![1].replace(/&amp;/g, '&');
        res = await browser.get(new URL(href, res.url));
      } else {
        throw new Error(`unexpected page ${res.status} at ${res.url}: ${res.body.slice(0, 300)}`);
      }
    }
    expect(code).toBeTruthy();
    const transport = new StreamableHTTPClientTransport(new URL(url), { authProvider: provider });
    await transport.finishAuth(code!);
    const client = new Client({ name: 'bundle-e2e', version: '0' });
    await client.connect(transport);
    clients.push(client);
    return { client, transport, provider, authUrl, signInPages };
  }

  let alice: Awaited<ReturnType<typeof connectBundle>>;

  it('is a protected resource of its own: 401 pointing at its metadata, whose resource is <PUBLIC_URL>/mcp', async () => {
    const res = await fetch(bundleUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(res.status).toBe(401);
    await res.text();
    expect(res.headers.get('www-authenticate')).toContain(`resource_metadata="${gw.config.publicUrl}/.well-known/oauth-protected-resource/mcp"`);
    const meta = (await (await fetch(`${gw.config.publicUrl}/.well-known/oauth-protected-resource/mcp`)).json()) as Record<string, unknown>;
    expect(meta).toMatchObject({ resource: bundleUrl, authorization_servers: [gw.config.publicUrl], scopes_supported: ['mcp:read', 'mcp:tools'] });
  });

  it("signs the user in to the oauth upstream during the bundle's /authorize, then lists every member's tools, prefixed", async () => {
    alice = await connectBundle(ALICE, () => 'signin');
    expect(alice.authUrl.searchParams.get('resource')).toBe(bundleUrl);
    // Only CRM (oauth) has a sign-in step; Notes (headers) and Personal (key already entered) do not.
    expect(alice.signInPages).toEqual(['Sign in to CRM']);
    expect(crm.authorizations).toHaveLength(1);

    const { tools, _meta } = await alice.client.listTools();
    const names = tools.map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(['notes__echo', 'notes__count', 'notes__whoami', 'personal__whoami', 'personal__count', 'crm__whoami', 'crm__echo']));
    // Bob's upstream is not Alice's to see; the down one is out, with a message in its place.
    expect(names.some((n) => n.startsWith('bobs__'))).toBe(false);
    const placeholder = tools.find((t) => t.name === 'down__unavailable') as Tool;
    expect(placeholder.description).toMatch(/Down is unavailable right now/);
    expect(names.filter((n) => n.startsWith('down__'))).toEqual(['down__unavailable']);
    expect((_meta as Record<string, unknown>)['gatehouse/unavailable']).toEqual([{ upstream: 'down', name: 'Down', message: placeholder.description }]);
    // Nothing about the unreachable address reaches the user.
    expect(JSON.stringify(tools)).not.toContain('127.0.0.1');
  });

  it('routes a call of each kind of upstream with its own credential, progress passing through', async () => {
    expect(text(await alice.client.callTool({ name: 'notes__whoami', arguments: {} }))).toBe(NOTES_KEY);
    expect(text(await alice.client.callTool({ name: 'personal__whoami', arguments: {} }))).toBe(ALICE_KEY);
    expect(text(await alice.client.callTool({ name: 'crm__whoami', arguments: {} }))).toBe(FIXTURE_USER);

    for (const slug of ['notes', 'personal']) {
      const progress: Array<{ progress: number; total?: number }> = [];
      const result = await alice.client.callTool({ name: `${slug}__count`, arguments: { n: 3, delayMs: 5 } }, undefined, { onprogress: (p) => progress.push(p) });
      expect(text(result)).toBe('counted 3');
      expect(progress.map((p) => p.progress)).toEqual([1, 2, 3]);
      expect(progress[2].total).toBe(3);
    }
    const crmProgress: unknown[] = [];
    expect(text(await alice.client.callTool({ name: 'crm__echo', arguments: { text: 'hi' } }, undefined, { onprogress: (p) => crmProgress.push(p) }))).toBe('hi');

    // A tool of the down upstream answers with the message; an unknown name is a JSON-RPC error.
    const down = await alice.client.callTool({ name: 'down__unavailable', arguments: {} });
    expect(down.isError).toBe(true);
    expect(text(down)).toMatch(/Down is unavailable/);
    await expect(alice.client.callTool({ name: 'nothing__here', arguments: {} })).rejects.toThrow(/no tool named nothing__here/);
    await expect(alice.client.callTool({ name: 'bobs__whoami', arguments: {} })).rejects.toThrow(/not allowed to use Bob only/);

    // The audit log has one row per call, naming the real upstream and tool.
    const audit = gw.app.get(AuditService);
    await until(async () => (await audit.list({ limit: 500 })).some((r) => r.upstreamSlug === 'crm' && r.tool === 'echo'), 'the audit rows');
    const rows = (await audit.list({ limit: 500 })).filter((r) => r.mcpMethod === 'tools/call');
    const seen = rows.map((r) => `${r.type}:${r.upstreamSlug}:${r.tool}:${r.outcome}`);
    expect(seen).toEqual(
      expect.arrayContaining([
        'mcp.request:notes:whoami:success',
        'mcp.request:personal:whoami:success',
        'mcp.request:crm:whoami:success',
        'mcp.request:notes:count:success',
        'mcp.request:crm:echo:success',
        'policy.deny:bobs:whoami:failure',
      ]),
    );
    expect(rows.find((r) => r.upstreamSlug === 'notes')!.detail).toMatchObject({ via: 'bundle' });
    // No credential in any row.
    expect(JSON.stringify(rows)).not.toMatch(new RegExp(`${NOTES_KEY}|${ALICE_KEY}`));
  });

  it('applies the tool filter per tool, to the list and to calls, and audits a refusal', async () => {
    const catalogue = gw.app.get(BundleCatalogue);
    const callers: unknown[] = [];
    catalogue.useToolFilter({
      allows: (slug, caller, tool) => {
        callers.push(caller);
        return !(slug === 'notes' && tool === 'echo');
      },
    });
    try {
      const names = (await alice.client.listTools()).tools.map((t) => t.name);
      expect(names).not.toContain('notes__echo');
      expect(names).toContain('notes__whoami');
      await expect(alice.client.callTool({ name: 'notes__echo', arguments: { text: 'x' } })).rejects.toThrow(/not allowed to call notes__echo/);
      expect(text(await alice.client.callTool({ name: 'crm__echo', arguments: { text: 'ok' } }))).toBe('ok');
      expect(callers[0]).toEqual({ userId: expect.any(String), groupIds: [] });
      const audit = gw.app.get(AuditService);
      await until(async () => (await audit.list({ limit: 500 })).some((r) => r.type === 'mcp.tool.denied' && r.tool === 'echo'), 'the mcp.tool.denied row');
    } finally {
      catalogue.useToolFilter({ allows: () => true });
    }
  });

  it('passes a cancellation on: the call ends at once and is audited as cancelled', async () => {
    const controller = new AbortController();
    let progressed = 0;
    const call = alice.client.callTool({ name: 'notes__count', arguments: { n: 3, delayMs: 20 } }, undefined, {
      signal: controller.signal,
      onprogress: () => {
        if (++progressed === 1) controller.abort();
      },
    });
    await expect(call).rejects.toThrow();
    const audit = gw.app.get(AuditService);
    await until(async () => (await audit.list({ limit: 500 })).some((r) => r.tool === 'count' && r.status === 499), 'the cancelled row');
  });

  it('sends notifications/tools/list_changed when the union changes', async () => {
    let changed = 0;
    alice.client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
      changed++;
    });
    await gw.app.get(UpstreamsService).setEnabled('down', false);
    await until(() => changed > 0, 'tools/list_changed');
    expect((await alice.client.listTools()).tools.map((t) => t.name)).not.toContain('down__unavailable');
    await gw.app.get(UpstreamsService).setEnabled('down', true);
  });

  it('a member whose sign-in was skipped drops out with "sign in at <url>", and is back once signed in there', async () => {
    const bob = await connectBundle(BOB, () => 'skip');
    expect(bob.signInPages).toEqual(['Sign in to CRM']);
    const { tools } = await bob.client.listTools();
    const names = tools.map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(['notes__whoami', 'bobs__whoami', 'crm__unavailable', 'personal__unavailable']));
    const crmSignIn = `${gw.config.publicUrl}/bundle/sign-in/crm`;
    expect(tools.find((t) => t.name === 'crm__unavailable')!.description).toContain(`sign in to CRM at ${crmSignIn}`);
    expect(tools.find((t) => t.name === 'personal__unavailable')!.description).toContain(`enter your credentials for Personal at ${gw.config.publicUrl}/bundle/sign-in/personal`);
    // Bob's key for Notes is the gateway's; Personal has none of his, so it does not open.
    expect(text(await bob.client.callTool({ name: 'notes__whoami', arguments: {} }))).toBe(NOTES_KEY);

    // Bob opens the URL in a browser: gateway sign-in, CRM's sign-in, back to My access.
    let changed = 0;
    bob.client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
      changed++;
    });
    const browser = new TestBrowser();
    let res = await browser.get(crmSignIn);
    const visited: string[] = [];
    for (let step = 0; step < 12 && !(res.location ?? '').endsWith('/admin/me'); step++) {
      if (res.location) res = await browser.get(res.location);
      else if (browser.forms(res).some((f) => f.controls.some((c) => c.name === 'password'))) res = await browser.submit(res, { email: BOB.email, password: BOB.password });
      else throw new Error(`unexpected page ${res.status} at ${res.url}`);
      visited.push(new URL(res.url).origin);
    }
    expect(res.location).toBe(`${gw.config.publicUrl}/admin/me`);
    expect(visited).toContain(crm.origin);
    await until(() => changed > 0, 'tools/list_changed after the sign-in');
    expect(text(await bob.client.callTool({ name: 'crm__whoami', arguments: {} }))).toBe(FIXTURE_USER);
    // An upstream Bob may not use has no sign-in for him.
    const secret = await browser.get(`${gw.config.publicUrl}/bundle/sign-in/nothing`);
    expect(secret.status).toBe(404);
  });

  it('serves the stateless 2026-07-28 revision: each request on its own, no session', async () => {
    const token = alice.provider.tokens()!.access_token;
    const post = (body: unknown) =>
      fetch(bundleUrl, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28' },
        body: JSON.stringify(body),
      });
    const read = async (res: Response) => {
      const raw = await res.text();
      const data = raw.startsWith('{')
        ? raw
        : raw
            .split('\n')
            .find((l) => l.startsWith('data: '))!
            .slice(6);
      return JSON.parse(data) as { result?: any; error?: any };
    };
    const list = await post({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} });
    if (list.status !== 200) throw new Error(await list.text());
    expect(list.status).toBe(200);
    expect(list.headers.get('mcp-session-id')).toBeNull();
    expect((await read(list)).result.tools.map((t: Tool) => t.name)).toContain('notes__whoami');
    const call = await post({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'crm__whoami', arguments: {} } });
    expect((await read(call)).result.content[0].text).toBe(FIXTURE_USER);
  });

  it("holds the audience: the bundle's token opens no upstream, an upstream's token not the bundle", async () => {
    const bundleToken = alice.provider.tokens()!.access_token;
    const atNotes = await fetch(gw.mcpUrl('notes'), { method: 'POST', headers: { authorization: `Bearer ${bundleToken}`, 'content-type': 'application/json' }, body: '{}' });
    expect(atNotes.status).toBe(401);
    await atNotes.text();
    const direct = await connectWithOAuth(gw.mcpUrl('notes'), ALICE);
    clients.push(direct.client);
    const upstreamToken = direct.provider.tokens()!.access_token;
    const atBundle = await fetch(bundleUrl, {
      method: 'POST',
      headers: { authorization: `Bearer ${upstreamToken}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(atBundle.status).toBe(401);
    await atBundle.text();
    expect(atBundle.headers.get('www-authenticate')).toContain('invalid_token');
  });

  it('a client that discovered the bundle and omits resource gets a bundle token; a read-only one cannot call', async () => {
    const callback = 'http://127.0.0.1:45998/callback';
    const tokenFor = async (extra: { scope?: string; resource?: string }) => {
      await call(`${gw.config.publicUrl}/.well-known/oauth-protected-resource/mcp`);
      const reg = await registerPublicClient(gw.config.publicUrl, callback);
      const { verifier, challenge } = pkce();
      const code = await obtainCode(gw.config.publicUrl, new TestBrowser(), ALICE, { clientId: reg.client_id, redirectUri: callback, challenge, ...extra });
      const tokens = await tokenRequest(gw.config.publicUrl, { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: callback, client_id: reg.client_id });
      return tokens.json.access_token as string;
    };
    const hinted = await tokenFor({});
    const init = await mcpPost(bundleUrl, hinted);
    expect(init.status).toBe(200);
    expect(init.headers.get('mcp-session-id')).toBeTruthy();
    expect((await mcpPost(gw.mcpUrl('notes'), hinted)).status).toBe(401);

    const readOnly = await tokenFor({ scope: 'mcp:read', resource: bundleUrl });
    const headers = { 'mcp-protocol-version': '2026-07-28' };
    expect((await mcpPost(bundleUrl, readOnly, { jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }, headers)).status).toBe(200);
    const refused = await mcpPost(bundleUrl, readOnly, { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'notes__whoami', arguments: {} } }, headers);
    expect(refused.status).toBe(403);
    expect(refused.headers.get('www-authenticate')).toContain('error="insufficient_scope"');
  });

  it("shows a bundle grant as the bundle's in My access", async () => {
    const api = adminApi(gw.config.publicUrl, await signInToConsole(gw.config.publicUrl, ALICE));
    const grants = (await api('GET', '/me/grants')).json.items as Array<{ upstream: { slug: string; name: string } }>;
    expect(grants.map((g) => g.upstream)).toContainEqual({ slug: '@bundle', name: 'All your MCP servers' });
  });

  it('answers bad requests with spec-shaped errors, never a 500', async () => {
    const token = alice.provider.tokens()!.access_token;
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
    const notJson = await call(bundleUrl, { method: 'POST', headers, body: '{"jsonrpc": "2.0", ' });
    expect(notJson.status).toBe(400);
    expect(notJson.json.error.code).toBe(-32700);
    const notRpc = await call(bundleUrl, { method: 'POST', headers, body: JSON.stringify({ hello: 'world' }) });
    expect(notRpc.status).toBe(400);
    expect(notRpc.json.error.code).toBe(-32600);
    const mismatch = await call(bundleUrl, {
      method: 'POST',
      headers: { ...headers, 'mcp-method': 'tools/list', 'mcp-protocol-version': '2026-07-28' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'notes__whoami' } }),
    });
    expect(mismatch.status).toBe(400);
    expect(mismatch.json.error.code).toBe(-32020);
    const unknownSession = await call(bundleUrl, {
      method: 'POST',
      headers: { ...headers, 'mcp-session-id': 'nope' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(unknownSession.status).toBe(404);
    expect(unknownSession.json.error.message).toMatch(/session not found/);
    const getWithout = await call(bundleUrl, { method: 'GET', headers: { authorization: headers.authorization, accept: 'text/event-stream' } });
    expect(getWithout.status).toBe(405);
    // fetch sends the URL's Host whatever the headers say: node:http sends the one given.
    const badHost = await new Promise<number>((resolve, reject) => {
      const req = request(bundleUrl, { method: 'POST', headers: { ...headers, host: 'evil.example' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.once('error', reject);
      req.end('{}');
    });
    expect(badHost).toBe(403);
    const noBundle = await call(`${gw.config.publicUrl}/mcp/b/missing`, { method: 'POST', headers, body: '{}' });
    expect(noBundle.status).toBe(404);
    expect(noBundle.json.error.code).toBe(-32601);
    expect((await call(`${gw.config.publicUrl}/.well-known/oauth-protected-resource/mcp/b/missing`)).status).toBe(404);
  });

  it('named bundles (/mcp/b/{name}): an admin picks the upstreams; a member gets those, under their own audience', async () => {
    const admin = adminApi(gw.config.publicUrl, await signInToConsole(gw.config.publicUrl, ADMIN));
    expect((await admin('POST', '/bundles', { name: 'work', upstreams: ['nope'] })).json).toMatchObject({
      error: 'invalid_request',
      fields: { upstreams: expect.stringContaining('nope') },
    });
    expect((await admin('POST', '/bundles', { name: 'Work!', upstreams: ['notes'] })).status).toBe(400);
    const created = await admin('POST', '/bundles', { name: 'work', upstreams: ['notes', 'crm'] });
    expect(created.status).toBe(201);
    const workUrl = `${gw.config.publicUrl}/mcp/b/work`;
    expect(created.json.bundle).toMatchObject({
      name: 'work',
      mcpUrl: workUrl,
      upstreams: [
        { slug: 'notes', name: 'Notes' },
        { slug: 'crm', name: 'CRM' },
      ],
    });
    expect((await admin('POST', '/bundles', { name: 'work', upstreams: ['notes'] })).status).toBe(409);
    const member = adminApi(gw.config.publicUrl, await signInToConsole(gw.config.publicUrl, ALICE));
    expect((await member('POST', '/bundles', { name: 'mine', upstreams: ['notes'] })).status).toBe(403);

    const meta = (await call(`${gw.config.publicUrl}/.well-known/oauth-protected-resource/mcp/b/work`)).json;
    expect(meta.resource).toBe(workUrl);
    // The /mcp token does not open the named bundle.
    const all = await mcpPost(workUrl, alice.provider.tokens()!.access_token);
    expect(all.status).toBe(401);

    const work = await connectBundle(ALICE, () => 'signin', workUrl);
    expect(work.authUrl.searchParams.get('resource')).toBe(workUrl);
    const names = (await work.client.listTools()).tools.map((t) => t.name);
    expect(names.every((n) => n.startsWith('notes__') || n.startsWith('crm__'))).toBe(true);
    expect(names).toEqual(expect.arrayContaining(['notes__whoami', 'crm__whoami']));
    await expect(work.client.callTool({ name: 'personal__whoami', arguments: {} })).rejects.toThrow(/no tool named personal__whoami/);
    expect(text(await work.client.callTool({ name: 'crm__whoami', arguments: {} }))).toBe(FIXTURE_USER);

    // An edit reaches the open session; a deletion ends it.
    let changed = 0;
    work.client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
      changed++;
    });
    expect((await admin('PUT', '/bundles/work', { upstreams: ['notes'] })).json.bundle.upstreams).toEqual([{ slug: 'notes', name: 'Notes' }]);
    await until(() => changed > 0, 'tools/list_changed after the edit');
    expect((await work.client.listTools()).tools.every((t) => t.name.startsWith('notes__'))).toBe(true);
    expect((await admin('DELETE', '/bundles/work')).status).toBe(204);
    expect((await mcpPost(workUrl, work.provider.tokens()!.access_token)).status).toBe(404);
    const rows = await gw.app.get(AuditService).list({ limit: 500 });
    expect(rows.map((r) => r.type)).toEqual(expect.arrayContaining(['admin.bundle.create', 'admin.bundle.update', 'admin.bundle.delete']));
  });
});
