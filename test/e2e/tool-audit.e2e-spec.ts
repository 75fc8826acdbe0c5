import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Browser, chromium } from 'playwright-core';
import { AuditService } from '../../server/src/audit/audit.service';
import { MAX_TOOL_NAME } from '../../server/src/audit/tool-arguments';
import { Transactions } from '../../server/src/database/transactions';
import { startUpstream, RunningUpstream } from '../fixtures/upstream-mcp-server';
import { adminApi, AdminCall, consoleSessionOf, signInToConsole } from '../helpers/admin-api';
import { TestBrowser } from '../helpers/browser';
import { ADMIN, configFrom, startTestGateway, TestGateway } from '../helpers/gateway';
import { call, HttpResult, obtainCode, pkce, registerPublicClient, tokenRequest } from '../helpers/raw-oauth';

const CALLBACK = 'http://127.0.0.1:45680/callback';
const PASSWORD = 'a perfectly long password';
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const sha128 = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 32);

describe('per-tool audit: argument digests, opt-in values, per-tool figures', () => {
  let upstream: RunningUpstream;
  let gw: TestGateway;
  let base: string;
  let api: AdminCall;
  let auditor: AdminCall;
  let member: AdminCall;
  const tokens: Record<string, string> = {};
  let browser: Browser | undefined;

  async function tokenFor(slug: string, scope?: string): Promise<string> {
    const reg = await registerPublicClient(base, CALLBACK);
    const { verifier, challenge } = pkce();
    const code = await obtainCode(base, new TestBrowser(), ADMIN, { clientId: reg.client_id, redirectUri: CALLBACK, challenge, scope, resource: gw.mcpUrl(slug) });
    const res = await tokenRequest(base, {
      grant_type: 'authorization_code',
      code,
      code_verifier: verifier,
      redirect_uri: CALLBACK,
      client_id: reg.client_id,
      resource: gw.mcpUrl(slug),
    });
    expect(res.status).toBe(200);
    return res.json.access_token;
  }

  function post(slug: string, token: string, body: string | object): Promise<HttpResult> {
    return call(gw.mcpUrl(slug), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', Authorization: `Bearer ${token}` },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  }

  /** The newest audit row of a tool at an upstream, waited for (bounded): a request is audited when its response closes. */
  async function lastRow(slug: string, tool: string, seen = 0): Promise<any> {
    for (let i = 0; i < 50; i++) {
      const rows = (await api('GET', `/audit?upstream=${slug}&tool=${encodeURIComponent(tool)}&limit=200`)).json.items;
      if (rows.length > seen) return rows[0];
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`no new audit row for ${slug}/${tool}`);
  }
  const rowsOf = async (slug: string, tool: string) => (await api('GET', `/audit?upstream=${slug}&tool=${encodeURIComponent(tool)}&limit=200`)).json.items.length;

  const echo = (args: object, id = 2) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'echo', arguments: args } });

  beforeAll(async () => {
    upstream = await startUpstream({ stateless: true });
    gw = await startTestGateway({
      config: {
        // Console upstreams on loopback (the test's upstream) need this.
        upstreams_policy: { allow_private_networks: true },
        upstreams: [
          { slug: 'plain', url: upstream.url },
          { slug: 'open', url: upstream.url, audit: { tool_arguments: 'values' } },
          // A scope beyond the built-in ones, so that a token without it is restricted (its body is read).
          { slug: 'scoped', url: upstream.url, scopes: ['mcp:read', 'mcp:tools', 'files:write'] },
        ],
      },
    });
    base = gw.config.publicUrl;
    api = adminApi(base, await signInToConsole(base, ADMIN));
    const onboard = async (email: string, role: string) => {
      const created = await api('POST', '/users', { email, role });
      const browser = new TestBrowser();
      await browser.submit(await browser.get(created.json.inviteUrl), { password: PASSWORD, confirm: PASSWORD });
      return adminApi(base, await consoleSessionOf(base, browser));
    };
    auditor = await onboard('auditor@example.test', 'auditor');
    member = await onboard('member@example.test', 'member');
    tokens.plain = await tokenFor('plain');
    tokens.open = await tokenFor('open');
    tokens.scopedFull = await tokenFor('scoped', 'mcp:read mcp:tools files:write');
    tokens.scopedRestricted = await tokenFor('scoped', 'mcp:read mcp:tools');
  });
  afterAll(async () => {
    await browser?.close();
    await gw.close();
    await upstream.close();
    gw.cleanup();
  });

  it('an unrestricted tools/call row has the digest of the canonical arguments and never their values', async () => {
    const res = await post('plain', tokens.plain, echo({ text: 'secret plans' }));
    expect(res.status).toBe(200);
    const row = await lastRow('plain', 'echo');
    expect(row.toolArguments).toEqual({ digest: sha128('{"text":"secret plans"}'), of: 'arguments' });
    expect(JSON.stringify(row)).not.toContain('secret plans');
    const exported = await api('GET', '/audit/export?format=jsonl&upstream=plain&tool=echo');
    expect(exported.text).toContain(sha128('{"text":"secret plans"}'));
    expect(exported.text).not.toContain('secret plans');
  });

  it('the same arguments give the same digest, whatever the key order, spacing, upstream or token kind (streamed or read for a scope check)', async () => {
    const args = { text: 'same', extra: { b: 2, a: 1 } };
    const expected = sha128('{"extra":{"a":1,"b":2},"text":"same"}');
    const reordered = '{ "params": { "arguments": { "extra": { "a": 1, "b": 2 }, "text": "same" }, "name": "echo" }, "method": "tools/call", "id": 9, "jsonrpc": "2.0" }';
    for (const [slug, token, body] of [
      ['plain', tokens.plain, echo(args)],
      ['plain', tokens.plain, reordered],
      ['scoped', tokens.scopedFull, echo(args)],
      ['scoped', tokens.scopedRestricted, reordered],
    ] as const) {
      const before = await rowsOf(slug, 'echo');
      expect((await post(slug, token, body)).status).toBe(200);
      expect({ slug, args: (await lastRow(slug, 'echo', before)).toolArguments }).toEqual({ slug, args: { digest: expected, of: 'arguments' } });
    }
    const before = await rowsOf('plain', 'echo');
    await post('plain', tokens.plain, echo({ ...args, text: 'different' }));
    expect((await lastRow('plain', 'echo', before)).toolArguments.digest).not.toBe(expected);
  });

  it('a tools/call refused by the scope check is audited with its tool and digest too', async () => {
    const readOnly = await tokenFor('scoped', 'mcp:read');
    const before = await rowsOf('scoped', 'echo');
    expect((await post('scoped', readOnly, echo({ text: 'denied' }))).status).toBe(403);
    const row = await lastRow('scoped', 'echo', before);
    expect(row).toMatchObject({ type: 'scope.deny', tool: 'echo', toolArguments: { digest: sha128('{"text":"denied"}'), of: 'arguments' } });
  });

  it('`audit.tool_arguments: values` keeps the values (secret-looking members redacted) and the call still works', async () => {
    const res = await post('open', tokens.open, echo({ text: 'visible', apiKey: 'sk-do-not-store', nested: { password: 'hunter2' } }));
    expect(res.status).toBe(200);
    expect(res.text).toContain('visible');
    const row = await lastRow('open', 'echo');
    expect(row.toolArguments.digest).toBe(sha128('{"apiKey":"sk-do-not-store","nested":{"password":"hunter2"},"text":"visible"}'));
    expect(JSON.parse(row.toolArguments.values)).toEqual({ apiKey: '[redacted]', nested: { password: '[redacted]' }, text: 'visible' });
    expect(JSON.stringify(row)).not.toMatch(/sk-do-not-store|hunter2/);
  });

  it('the upstream view shows the setting; a console upstream toggles it (audited), config upstreams are read-only, bad values are named', async () => {
    expect((await api('GET', '/upstreams/open')).json.audit).toEqual({ toolArguments: 'values' });
    expect((await api('GET', '/upstreams/plain')).json.audit).toEqual({ toolArguments: 'digest' });
    expect((await api('PATCH', '/upstreams/plain', { audit: { toolArguments: 'values' } })).status).toBe(409);

    const created = await api('POST', '/upstreams', { slug: 'console', name: 'Console', url: upstream.url, auth: { mode: 'none' } });
    expect(created.status).toBe(201);
    expect(created.json.audit).toEqual({ toolArguments: 'digest' });
    const bad = await api('PATCH', '/upstreams/console', { audit: { toolArguments: 'everything' } });
    expect(bad.status).toBe(400);
    expect(bad.json.fields).toEqual({ 'audit.toolArguments': 'must be one of: digest, values' });
    for (const audit of [null, 'values', ['values']]) {
      const notObject = await api('PATCH', '/upstreams/console', { audit });
      expect({ audit, status: notObject.status, named: Object.keys(notObject.json.fields ?? {}).every((f) => f.startsWith('audit')) }).toEqual({ audit, status: 400, named: true });
    }
    const unknown = await api('PATCH', '/upstreams/console', { audit: { tool_arguments: 'values' } });
    expect(unknown.status).toBe(400);
    expect(Object.keys(unknown.json.fields)).toEqual(['audit.tool_arguments']);

    const on = await api('PATCH', '/upstreams/console', { audit: { toolArguments: 'values' } });
    expect(on.status).toBe(200);
    expect(on.json.audit).toEqual({ toolArguments: 'values' });
    const update = (await api('GET', '/audit?type=admin.upstream.update&upstream=console')).json.items[0];
    expect(update.detail).toMatchObject({ changed: ['audit'], tool_arguments: 'values' });

    const token = await tokenFor('console');
    expect((await post('console', token, echo({ text: 'kept' }))).status).toBe(200);
    expect(JSON.parse((await lastRow('console', 'echo')).toolArguments.values)).toEqual({ text: 'kept' });
  });

  it('config.yaml names a bad `audit.tool_arguments`', () => {
    expect(() => configFrom({ upstreams: [{ slug: 'x', url: 'http://127.0.0.1:1/mcp', audit: { tool_arguments: 'all' } }] })).toThrow(
      /audit\.tool_arguments.*must be one of: digest, values/,
    );
  });

  it('GET /dashboard/tools: calls, errors, p50/p95 per tool, most called first, per upstream; validated; admins and auditors only', async () => {
    const audit = gw.app.get(AuditService);
    const durations = [10, 20, 30, 40, 1000];
    for (const [i, ms] of durations.entries()) {
      audit.record({
        type: 'mcp.request',
        outcome: i === 4 ? 'failure' : 'success',
        upstreamSlug: 'figures',
        mcpMethod: 'tools/call',
        tool: 'slow',
        status: i === 4 ? 502 : 200,
        durationMs: ms,
      });
    }
    audit.record({ type: 'mcp.request', outcome: 'success', upstreamSlug: 'figures', mcpMethod: 'tools/call', tool: 'fast', status: 200, durationMs: 1 });

    const res = await auditor('GET', '/dashboard/tools?window=1h&upstream=figures');
    expect(res.status).toBe(200);
    expect(res.json.items.map((t: any) => [t.upstream, t.tool, t.calls, t.errors])).toEqual([
      ['figures', 'slow', 5, 1],
      ['figures', 'fast', 1, 0],
    ]);
    const slow = res.json.items[0];
    // Histogram estimates: the median (30 ms) lies in the (20, 30] bucket, the p95 in (700, 1000].
    expect(slow.p50Ms).toBeGreaterThan(20);
    expect(slow.p50Ms).toBeLessThanOrEqual(30);
    expect(slow.p95Ms).toBeGreaterThan(700);
    expect(slow.p95Ms).toBeLessThanOrEqual(1000);

    const everything = (await api('GET', '/dashboard/tools')).json.items;
    expect(everything.map((t: any) => `${t.upstream}/${t.tool}`)).toEqual(expect.arrayContaining(['plain/echo', 'open/echo', 'figures/slow']));
    expect((await api('GET', '/dashboard/tools?window=1h&limit=1')).json.items).toHaveLength(1);

    for (const [query, field] of [
      ['window=1y', 'window'],
      ['limit=0', 'limit'],
      ['limit=501', 'limit'],
      ['limit=x', 'limit'],
      ['nope=1', 'nope'],
    ]) {
      const bad = await api('GET', `/dashboard/tools?${query}`);
      expect({ query, status: bad.status, fields: Object.keys(bad.json.fields ?? {}) }).toEqual({ query, status: 400, fields: [field] });
    }
    expect((await member('GET', '/dashboard/tools')).status).toBe(403);
    expect((await adminApi(base, null)('GET', '/dashboard/tools')).status).toBe(401);
  });

  it(`an outsider's tool name is kept to ${MAX_TOOL_NAME} characters in the row and the rollup key`, async () => {
    const long = 'x'.repeat(1000);
    const audit = gw.app.get(AuditService);
    audit.record({ type: 'mcp.request', outcome: 'success', upstreamSlug: 'bounded', mcpMethod: 'tools/call', tool: long, status: 200, durationMs: 1 });
    const res = await post('plain', tokens.plain, { jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'y'.repeat(1000), arguments: {} } });
    expect(res.status).toBe(200); // the upstream answers the unknown tool with a JSON-RPC error
    await audit.flush();
    const longest = async (table: string) => (await gw.app.get(Transactions).query<{ n: number }>(`SELECT MAX(LENGTH(tool)) AS n FROM ${table}`))[0].n;
    for (let i = 0; i < 50 && (await rowsOf('plain', 'y'.repeat(MAX_TOOL_NAME))) === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(await longest('audit_events')).toBe(MAX_TOOL_NAME);
    expect(await longest('audit_tool_rollups')).toBe(MAX_TOOL_NAME);
    expect((await api('GET', `/dashboard/tools?upstream=bounded`)).json.items[0].tool).toBe('x'.repeat(MAX_TOOL_NAME));
  });

  it('the console: the upstream form toggles values, the dashboard and the upstream page list tools with their figures, the audit drawer shows digest and values', async () => {
    if (!existsSync(join(__dirname, '..', '..', 'dist', 'web', 'index.html'))) throw new Error('dist/web is missing: run `npm run build:web`');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'] });
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${base}/login`);
    await page.fill('#email', ADMIN.email);
    await page.fill('#password', ADMIN.password);
    await Promise.all([page.waitForURL((u) => u.pathname.startsWith('/admin/')), page.click('button[type=submit]')]);

    // Back to digest only, in the form.
    await page.goto(`${base}/admin/upstreams/console/edit`);
    const select = page.locator('#up-tool-arguments');
    await expect(select.inputValue()).resolves.toBe('values');
    await select.selectOption('digest');
    await Promise.all([page.waitForURL((u) => u.pathname === '/admin/upstreams/console'), page.getByRole('button', { name: 'Save changes' }).click()]);
    await page.getByText('Digest only', { exact: true }).waitFor();
    expect((await api('GET', '/upstreams/console')).json.audit).toEqual({ toolArguments: 'digest' });
    // The upstream page's Tools card: echo was called here (previous test).
    const upstreamTools = page.locator('table[aria-labelledby="tools-h"] tbody tr');
    await upstreamTools.first().waitFor();
    await expect(upstreamTools.first().locator('td').first().innerText()).resolves.toBe('echo');

    await page.goto(`${base}/admin/dashboard`);
    const dashboardTools = page.locator('table[aria-labelledby="tools-h"] tbody tr');
    await dashboardTools.first().waitFor();
    const cells = await dashboardTools.allInnerTexts();
    expect(cells.some((row) => row.startsWith('slow\tfigures\t5\t1\t'))).toBe(true);

    // A row with values, opened in the drawer.
    const before = await rowsOf('open', 'echo');
    await post('open', tokens.open, echo({ text: 'shown in the drawer', token: 'never-shown' }));
    const row = await lastRow('open', 'echo', before);
    await page.goto(`${base}/admin/audit?upstream=open&tool=echo&row=${row.id}`);
    const drawer = page.getByRole('dialog');
    await drawer.getByText(row.toolArguments.digest).waitFor();
    const values = await drawer.getByLabel('Argument values').innerText();
    expect(JSON.parse(values)).toEqual({ text: 'shown in the drawer', token: '[redacted]' });
    // The tool filter suggests the tools seen: of any upstream, or of the one typed.
    await page.goto(`${base}/admin/audit`);
    const option = (tool: string) => page.locator(`#audit-tool-suggestions option[value="${tool}"]`);
    await option('slow').waitFor({ state: 'attached' });
    await expect(option('x'.repeat(MAX_TOOL_NAME)).count()).resolves.toBe(1);
    await page.fill('#audit-upstream', 'open');
    await option('slow').waitFor({ state: 'detached' });
    await expect(page.locator('#audit-tool-suggestions option').evaluateAll((options) => options.map((o) => (o as unknown as { value: string }).value))).resolves.toEqual(['echo']);
    expect(errors).toEqual([]);
  });
});
