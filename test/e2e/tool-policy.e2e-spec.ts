import http from 'node:http';
import { AddressInfo } from 'node:net';
import zlib from 'node:zlib';
import { chromium } from 'playwright-core';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { AuditService } from '../../server/src/audit/audit.service';
import { GroupsService } from '../../server/src/identity/groups.service';
import { UsersService } from '../../server/src/identity/users.service';
import { startToolPolicyUpstream, ToolPolicyUpstream, FIXTURE_TOOLS } from '../fixtures/tool-policy-upstream';
import { adminApi, AdminCall, signInToConsole } from '../helpers/admin-api';
import { TestBrowser } from '../helpers/browser';
import { ADMIN, startTestGateway, TestGateway } from '../helpers/gateway';
import { call, obtainCode, pkce, registerPublicClient, tokenRequest } from '../helpers/raw-oauth';

const CALLBACK = 'http://127.0.0.1:45680/callback';
const CAROL = { email: 'carol@example.test', password: 'carol carol carol carol' }; // in "contractors"
const ALICE = { email: 'alice@example.test', password: 'alice alice alice alice' }; // in "researchers"

/** deny delete_* to contractors; search_web only for researchers. */
const RULES = [
  { effect: 'deny', tools: ['delete_*'], groups: ['contractors'] },
  { effect: 'allow', tools: ['search_web'], groups: ['researchers'] },
  { effect: 'deny', tools: ['search_web'] },
];

describe('per-tool policy at the proxy', () => {
  let jsonUpstream: ToolPolicyUpstream;
  let sseUpstream: ToolPolicyUpstream;
  let gw: TestGateway;
  let api: AdminCall;
  /** A raw upstream answering every request with `odd` (to test responses no SDK server sends). */
  let oddServer: http.Server;
  let odd: { type: string; body: Buffer; encoding?: string } = { type: 'application/json', body: Buffer.from('{}') };
  const tokens = new Map<string, string>();
  const clients: Client[] = [];

  async function token(creds: { email: string; password: string }, slug: string): Promise<string> {
    const key = `${creds.email} ${slug}`;
    if (tokens.has(key)) return tokens.get(key)!;
    const base = gw.config.publicUrl;
    const reg = await registerPublicClient(base, CALLBACK);
    const { verifier, challenge } = pkce();
    const resource = gw.mcpUrl(slug);
    const code = await obtainCode(base, new TestBrowser(), creds, { clientId: reg.client_id, redirectUri: CALLBACK, challenge, resource });
    const res = await tokenRequest(base, { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: CALLBACK, client_id: reg.client_id, resource });
    expect(res.status).toBe(200);
    tokens.set(key, res.json.access_token);
    return res.json.access_token;
  }

  /** The real SDK client, connected through the gateway with a bearer token. */
  async function sdkClient(creds: { email: string; password: string }, slug: string): Promise<Client> {
    const bearer = await token(creds, slug);
    const client = new Client({ name: 'tool-policy-test', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(gw.mcpUrl(slug)), { requestInit: { headers: { Authorization: `Bearer ${bearer}` } } }));
    clients.push(client);
    return client;
  }

  const rawPost = async (creds: { email: string; password: string }, slug: string, body: unknown, headers: Record<string, string> = {}) =>
    call(gw.mcpUrl(slug), {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        Accept: 'application/json, text/event-stream',
        Authorization: `Bearer ${await token(creds, slug)}`,
        'MCP-Protocol-Version': '2025-03-26',
        ...headers,
      },
      body: Buffer.isBuffer(body) ? body : JSON.stringify(body),
    });

  /** The JSON-RPC messages of a JSON or SSE response body. */
  const messagesOf = (text: string): any[] => {
    const trimmed = text.trim();
    if (trimmed.startsWith('{') || trimmed.startsWith('[')) return [JSON.parse(trimmed)].flat();
    return trimmed
      .split(/\n\n+/)
      .map((event) =>
        event
          .split('\n')
          .filter((l) => l.startsWith('data:'))
          .map((l) => l.slice(5).trim())
          .join('\n'),
      )
      .filter(Boolean)
      .flatMap((data) => [JSON.parse(data)].flat());
  };

  /** Waits (bounded) for an audit row of `type` that matches. */
  async function auditRow(type: string, match: (row: any) => boolean) {
    const audit = gw.app.get(AuditService);
    for (let i = 0; i < 50; i++) {
      const row = (await audit.list({ type, limit: 1000 })).find(match);
      if (row) return row;
      await new Promise((r) => setTimeout(r, 20));
    }
    return undefined;
  }

  beforeAll(async () => {
    jsonUpstream = await startToolPolicyUpstream({ json: true });
    sseUpstream = await startToolPolicyUpstream({ json: false });
    oddServer = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(200, { 'content-type': odd.type, ...(odd.encoding ? { 'content-encoding': odd.encoding } : {}) }).end(odd.body));
    });
    await new Promise<void>((r) => oddServer.listen(0, '127.0.0.1', r));
    gw = await startTestGateway({
      config: {
        upstreams_policy: { allow_private_networks: true },
        upstreams: [
          { slug: 'json', url: jsonUpstream.url, tools: { rules: RULES } },
          { slug: 'sse', url: sseUpstream.url, tools: { rules: RULES } },
          { slug: 'plain', url: jsonUpstream.url },
          { slug: 'odd', url: `http://127.0.0.1:${(oddServer.address() as AddressInfo).port}/mcp`, tools: { rules: RULES } },
        ],
      },
    });
    const users = gw.app.get(UsersService);
    const groups = gw.app.get(GroupsService);
    await groups.addMember('contractors', (await users.create({ email: CAROL.email, password: CAROL.password, role: 'member' })).id);
    await groups.addMember('researchers', (await users.create({ email: ALICE.email, password: ALICE.password, role: 'member' })).id);
    api = adminApi(gw.config.publicUrl, await signInToConsole(gw.config.publicUrl, ADMIN));
  });
  afterAll(async () => {
    for (const c of clients) await c.close().catch(() => undefined);
    await gw?.close();
    gw?.cleanup();
    await jsonUpstream?.close();
    await sseUpstream?.close();
    oddServer?.closeAllConnections();
    await new Promise((r) => oddServer?.close(r));
  });

  describe.each(['json', 'sse'])('with %s responses', (slug) => {
    const upstream = () => (slug === 'json' ? jsonUpstream : sseUpstream);

    it('shows a member of a denied group a filtered tools/list and refuses the denied call before the upstream, with an audit row', async () => {
      const carol = await sdkClient(CAROL, slug);
      expect((await carol.listTools()).tools.map((t) => t.name).sort()).toEqual(['echo', 'search_docs']);

      const before = upstream().calls.get('delete_doc') ?? 0;
      const refused = await carol.callTool({ name: 'delete_doc', arguments: {} }).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(McpError);
      expect((refused as McpError).code).toBe(-32602);
      expect((refused as McpError).message).toMatch(/delete_doc.*tool policy/);
      expect(upstream().calls.get('delete_doc') ?? 0).toBe(before);

      const row = await auditRow('mcp.tool.denied', (r) => r.upstreamSlug === slug && r.tool === 'delete_doc');
      expect(row).toMatchObject({ outcome: 'failure', mcpMethod: 'tools/call' });
      expect(row!.detail).toMatchObject({ tool: 'delete_doc', rule: { position: 1, effect: 'deny', tools: ['delete_*'] } });

      // What the policy allows still runs.
      expect(await carol.callTool({ name: 'echo', arguments: { text: 'hi' } })).toMatchObject({ content: [{ type: 'text', text: 'echo ran: hi' }] });
    });

    it('leaves an allowed member unaffected', async () => {
      const alice = await sdkClient(ALICE, slug);
      expect((await alice.listTools()).tools.map((t) => t.name).sort()).toEqual([...FIXTURE_TOOLS].sort());
      const before = upstream().calls.get('delete_doc') ?? 0;
      expect(await alice.callTool({ name: 'delete_doc', arguments: {} })).toMatchObject({ content: [{ text: 'delete_doc ran' }] });
      expect(upstream().calls.get('delete_doc')).toBe(before + 1);
    });

    it('applies a rule for everyone after the rules that exempt a group (first match wins)', async () => {
      const admin = await sdkClient(ADMIN, slug);
      const names = (await admin.listTools()).tools.map((t) => t.name);
      expect(names).not.toContain('search_web');
      expect(names).toContain('delete_all');
      await expect(admin.callTool({ name: 'search_web', arguments: {} })).rejects.toMatchObject({ code: -32602 });
    });
  });

  it('refuses a batch holding a denied call as a whole, answering each request, and filters a batch tools/list', async () => {
    const before = jsonUpstream.calls.get('echo') ?? 0;
    const refused = await rawPost(CAROL, 'json', [
      { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: {} } },
      { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'delete_all', arguments: {} } },
      { jsonrpc: '2.0', method: 'notifications/initialized' },
    ]);
    expect(refused.status).toBe(200);
    expect(refused.json).toEqual([
      { jsonrpc: '2.0', id: 1, error: expect.objectContaining({ code: -32600 }) },
      { jsonrpc: '2.0', id: 2, error: expect.objectContaining({ code: -32602, data: { reason: 'tool_policy', tool: 'delete_all' } }) },
    ]);
    expect(jsonUpstream.calls.get('echo') ?? 0).toBe(before);

    const listed = await rawPost(CAROL, 'json', [
      { jsonrpc: '2.0', id: 'a', method: 'tools/list' },
      { jsonrpc: '2.0', id: 'b', method: 'tools/call', params: { name: 'echo', arguments: { text: 'x' } } },
    ]);
    expect(listed.status).toBe(200);
    const byId = new Map(messagesOf(listed.text).map((m) => [m.id, m]));
    expect(
      byId
        .get('a')
        .result.tools.map((t: { name: string }) => t.name)
        .sort(),
    ).toEqual(['echo', 'search_docs']);
    expect(byId.get('b').result.content[0].text).toBe('echo ran: x');
  });

  it('keeps a huge denied tool name out of the error and the audit row', async () => {
    const name = `delete_${'x'.repeat(100_000)}`;
    const res = await rawPost(CAROL, 'json', { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name, arguments: {} } });
    expect(res.json).toMatchObject({ id: 7, error: { code: -32602 } });
    expect(res.text.length).toBeLessThan(1000);
    const row = await auditRow('mcp.tool.denied', (r) => r.tool?.startsWith('delete_xxx'));
    expect(row!.tool!.length).toBeLessThanOrEqual(128);
    expect(JSON.stringify(row!.detail).length).toBeLessThan(1000);
  });

  it('reads a compressed request body before deciding (no bypass by Content-Encoding)', async () => {
    const body = zlib.gzipSync(JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'delete_doc', arguments: {} } }));
    const before = sseUpstream.calls.get('delete_doc') ?? 0;
    const res = await rawPost(CAROL, 'sse', body, { 'Content-Encoding': 'gzip' });
    expect(res.json).toMatchObject({ jsonrpc: '2.0', id: 9, error: { code: -32602 } });
    expect(sseUpstream.calls.get('delete_doc') ?? 0).toBe(before);
  });

  it('does not filter an upstream without rules', async () => {
    const carol = await sdkClient(CAROL, 'plain');
    expect((await carol.listTools()).tools).toHaveLength(FIXTURE_TOOLS.length);
  });

  it('serves the rules to the console, read-only for config.yaml upstreams, editable for console ones, with a preview', async () => {
    const cfg = await api('GET', '/upstreams/json/tool-rules');
    expect(cfg.status).toBe(200);
    expect(cfg.json).toMatchObject({ rules: [{ effect: 'deny', tools: ['delete_*'], users: [], groups: ['contractors'] }, {}, {}], pinning: 'off' });
    expect(cfg.json.readOnlyReason).toMatch(/config/);
    expect((await api('PUT', '/upstreams/json/tool-rules', { rules: [] })).json).toMatchObject({ error: 'read_only' });

    expect((await api('POST', '/upstreams', { slug: 'console-up', name: 'Console', url: jsonUpstream.url })).status).toBe(201);
    const carol = await sdkClient(CAROL, 'console-up');
    expect((await carol.listTools()).tools).toHaveLength(FIXTURE_TOOLS.length);

    const bad = await api('PUT', '/upstreams/console-up/tool-rules', { rules: [{ effect: 'block', tools: ['rm -rf'] }] });
    expect(bad.status).toBe(400);
    expect(bad.json.fields).toMatchObject({ 'rules[0].effect': expect.any(String), 'rules[0].tools[0]': expect.any(String) });
    expect((await api('PUT', '/upstreams/console-up/tool-rules', { rules: 'x' })).status).toBe(400);
    expect((await api('PUT', '/upstreams/console-up/tool-rules', { rules: [] }, { 'X-CSRF-Token': 'wrong' })).status).toBe(403);

    const saved = await api('PUT', '/upstreams/console-up/tool-rules', { rules: [{ effect: 'deny', tools: ['echo', 'search_*'], users: [CAROL.email.toUpperCase()] }] });
    expect(saved.status).toBe(200);
    expect(saved.json.rules).toEqual([{ effect: 'deny', tools: ['echo', 'search_*'], users: [CAROL.email], groups: [] }]);
    // In force at once, including for a caller whose decisions were cached.
    expect((await carol.listTools()).tools.map((t) => t.name).sort()).toEqual(['delete_all', 'delete_doc']);
    await expect(carol.callTool({ name: 'echo', arguments: {} })).rejects.toMatchObject({ code: -32602 });
    expect(await auditRow('admin.upstream.tool_rules', (r) => r.upstreamSlug === 'console-up')).toMatchObject({ outcome: 'success' });

    const preview = await api('GET', '/upstreams/console-up/tool-preview');
    expect(preview.status).toBe(200);
    // The tools the catalogue recorded from the lists above.
    expect(preview.json.tools).toEqual([...FIXTURE_TOOLS].sort());
    const carolRow = preview.json.users.find((u: { email: string }) => u.email === CAROL.email);
    expect(carolRow).toMatchObject({
      allowed: ['delete_all', 'delete_doc'],
      denied: ['echo', 'search_docs', 'search_web'].map((tool) => ({ tool, rule: { position: 1 } })),
      groups: ['contractors'],
    });
    expect(preview.json.users.find((u: { email: string }) => u.email === ALICE.email)).toMatchObject({ allowed: [...FIXTURE_TOOLS].sort(), denied: [] });
  });

  it('edits the rules in the console (browser) and previews who can call what', async () => {
    const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu'] });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`${gw.config.publicUrl}/login`);
      await page.fill('#email', ADMIN.email);
      await page.fill('#password', ADMIN.password);
      await Promise.all([page.waitForURL((u) => u.pathname.startsWith('/admin/')), page.click('button[type=submit]')]);
      await page.goto(`${gw.config.publicUrl}/admin/upstreams/console-up`);
      await page.getByRole('heading', { name: 'Tool rules' }).waitFor();
      await page.getByLabel('Rule 1 tools').waitFor();
      await page.getByRole('button', { name: 'Add rule' }).click();
      await page.getByLabel('Rule 2 tools').fill('delete_doc');
      await page.getByLabel('Rule 2 groups').fill('researchers');
      await page.getByRole('button', { name: 'Move rule 2 up' }).click();
      await page.getByRole('button', { name: 'Save rules' }).click();
      await page.getByText('Tool rules saved.').waitFor();
      const view = await api('GET', '/upstreams/console-up/tool-rules');
      expect(view.json.rules).toEqual([
        { effect: 'deny', tools: ['delete_doc'], users: [], groups: ['researchers'] },
        { effect: 'deny', tools: ['echo', 'search_*'], users: [CAROL.email], groups: [] },
      ]);
      // The preview: alice (a researcher) is now denied delete_doc, by rule 1.
      const aliceRow = page.locator('#tool-preview tr', { hasText: ALICE.email });
      await aliceRow.getByText('✕ rule 1').waitFor();
      const alice = await sdkClient(ALICE, 'console-up');
      expect((await alice.listTools()).tools.map((t) => t.name)).not.toContain('delete_doc');

      // A config.yaml upstream's rules are shown, not editable.
      await page.goto(`${gw.config.publicUrl}/admin/upstreams/json`);
      await page.getByLabel('Rule 1 tools').waitFor();
      expect(await page.getByLabel('Rule 1 tools').getAttribute('readonly')).not.toBeNull();
      expect(await page.getByRole('button', { name: 'Save rules' }).count()).toBe(0);
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  });

  it('keeps a rule on a renamed group (a deny rule must not stop applying)', async () => {
    const groups = gw.app.get(GroupsService);
    const contractors = await groups.findByName('contractors');
    const renamed = await api('PATCH', `/groups/${contractors!.id}`, { name: 'external' });
    expect(renamed.status).toBe(200);
    expect((await api('GET', '/upstreams/json/tool-rules')).json.rules[0].groups).toEqual(['external']);
    const carol = await sdkClient(CAROL, 'json');
    expect((await carol.listTools()).tools.map((t) => t.name)).not.toContain('delete_doc');
    await expect(carol.callTool({ name: 'delete_doc', arguments: {} })).rejects.toMatchObject({ code: -32602 });
  });

  it('refuses a tools/list response it cannot read rather than pass it unfiltered', async () => {
    const list = JSON.stringify({ jsonrpc: '2.0', id: 4, result: { tools: [{ name: 'delete_doc' }, { name: 'echo' }] } });
    const cases = [
      { type: 'text/plain', body: Buffer.from(list) },
      { type: 'application/json', body: zlib.gzipSync(list), encoding: 'gzip' },
      { type: 'application/json', body: Buffer.from(list.slice(0, 40)) },
      // Over the 16 MiB the gateway reads of a tools/list answer.
      { type: 'application/json', body: Buffer.concat([Buffer.from(list.slice(0, -2)), Buffer.alloc(17 * 1024 * 1024, 0x20), Buffer.from('}}')]) },
    ];
    for (const c of cases) {
      odd = c;
      const res = await rawPost(CAROL, 'odd', { jsonrpc: '2.0', id: 4, method: 'tools/list' });
      expect(res.status).toBe(502);
      expect(res.json).toMatchObject({ jsonrpc: '2.0', id: 4, error: { code: -32002 } });
      expect(res.text).not.toContain('delete_doc');
    }
    odd = { type: 'application/json', body: Buffer.from(list) };
    const ok = await rawPost(CAROL, 'odd', { jsonrpc: '2.0', id: 4, method: 'tools/list' });
    expect(ok.json.result.tools).toEqual([{ name: 'echo' }]);
  });

  it('forgets the rules of a deleted upstream: a new one under the same slug starts without', async () => {
    expect((await api('DELETE', '/upstreams/console-up')).status).toBe(204);
    expect((await api('GET', '/upstreams/console-up/tool-rules')).status).toBe(404);
    expect((await api('POST', '/upstreams', { slug: 'console-up', url: jsonUpstream.url })).status).toBe(201);
    expect((await api('GET', '/upstreams/console-up/tool-rules')).json).toMatchObject({ rules: [], pinning: 'off' });
    expect((await api('GET', '/upstreams/console-up/tools')).json.items).toEqual([]);
  });
});
