import http from 'node:http';
import { AuditService } from '../../server/src/audit/audit.service';
import { Transactions } from '../../server/src/database/transactions';
import { startUpstream, RunningUpstream } from '../fixtures/upstream-mcp-server';
import { adminApi, AdminCall, allPages, consoleSessionOf, ConsoleSession, signInToConsole } from '../helpers/admin-api';
import { TestBrowser } from '../helpers/browser';
import { ADMIN, startTestGateway, TestGateway } from '../helpers/gateway';
import { connectWithOAuth } from '../helpers/oauth-client';
import { call } from '../helpers/raw-oauth';

const PASSWORD = 'a perfectly long password';
/** More rows than one export query reads (1000), so the export has to page. */
const BULK_ROWS = 2500;

describe('admin API: audit log and dashboard', () => {
  let upstream: RunningUpstream;
  let gw: TestGateway;
  let base: string;
  let admin: ConsoleSession;
  let api: AdminCall;
  let auditor: AdminCall;
  let member: AdminCall;

  async function onboard(email: string, role: string): Promise<ConsoleSession> {
    const created = await api('POST', '/users', { email, role });
    expect(created.status).toBe(201);
    const browser = new TestBrowser();
    expect((await browser.submit(await browser.get(created.json.inviteUrl), { password: PASSWORD, confirm: PASSWORD })).status).toBe(303);
    return consoleSessionOf(base, browser);
  }

  beforeAll(async () => {
    upstream = await startUpstream();
    gw = await startTestGateway({ config: { upstreams: [{ slug: 'u', name: 'The upstream', url: upstream.url }] } });
    base = gw.config.publicUrl;
    admin = await signInToConsole(base, ADMIN);
    api = adminApi(base, admin);
    auditor = adminApi(base, await onboard('auditor@example.test', 'auditor'));
    member = adminApi(base, await onboard('member@example.test', 'member'));

    // Real traffic: a failed sign-in, then an MCP client through the OAuth flow and the proxy.
    const failed = new TestBrowser();
    await failed.submit(await failed.get(`${base}/login`), { email: '=cmd@example.test', password: 'not-the-password' });
    const { client } = await connectWithOAuth(gw.mcpUrl('u'), ADMIN);
    // whoami, so that the real call's own row (the proxy names the tool) stays apart from the echo rows below.
    await client.callTool({ name: 'whoami', arguments: {} });
    await client.close();

    // Tool calls with known durations, and a bulk of rows for the export.
    const audit = gw.app.get(AuditService);
    for (let i = 0; i < 3; i++) {
      audit.record({
        type: 'mcp.request',
        outcome: i ? 'success' : 'failure',
        userId: admin.user.id,
        upstreamSlug: 'u',
        mcpMethod: 'tools/call',
        tool: 'echo',
        status: 200,
        durationMs: 5 + i,
      });
    }
    await audit.flush();
    // One transaction of hand-written multi-row inserts (500 rows each), on either engine.
    const now = Date.now();
    const values = (i: number) => [now - 60_000 - i, admin.user.id, JSON.stringify({ n: i, note: i % 100 ? 'plain' : '+quote "me", please' })];
    await gw.app.get(Transactions).run(async (tx) => {
      for (let i = 0; i < BULK_ROWS; i += 500) {
        const rows = Array.from({ length: Math.min(500, BULK_ROWS - i) }, (_, k) => i + k);
        await tx.execute(
          `INSERT INTO audit_events (at, type, outcome, user_id, upstream_slug, detail) VALUES ${rows.map(() => "(?, 'bulk.row', 'success', ?, 'u', ?)").join(', ')}`,
          rows.flatMap(values),
        );
      }
    });
  });
  afterAll(async () => {
    await gw.close();
    await upstream.close();
    gw.cleanup();
  });

  const ROUTES = ['/audit', '/audit/event-types', '/audit/1', '/audit/export?format=csv', '/dashboard'];

  it('no session → 401; a member → 403; admins and auditors read every route', async () => {
    const anonymous = adminApi(base, null);
    for (const path of ROUTES) {
      const none = await anonymous('GET', path);
      expect({ path, status: none.status, body: none.json }).toEqual({ path, status: 401, body: { error: 'unauthorized' } });
      const denied = await member('GET', path);
      expect({ path, status: denied.status, body: denied.json }).toEqual({ path, status: 403, body: { error: 'forbidden' } });
      for (const reader of [api, auditor]) expect({ path, status: (await reader('GET', path)).status }).toEqual({ path, status: 200 });
    }
  });

  it('the audit routes change nothing: there is no state-changing method on them, for anyone', async () => {
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
      for (const path of ['/audit', '/audit/1', '/dashboard']) {
        expect({ method, path, status: (await api(method, path, {})).status }).toEqual({ method, path, status: 404 });
      }
    }
  });

  it('lists newest first with the user named by email, filtered, and pages with a cursor', async () => {
    const failedLogin = await api('GET', '/audit?type=login&outcome=failure');
    expect(failedLogin.status).toBe(200);
    expect(failedLogin.json.items).toHaveLength(1);
    expect(failedLogin.json.items[0]).toMatchObject({ type: 'login', outcome: 'failure', user: null, detail: { email: '=cmd@example.test' } });

    const calls = await auditor('GET', '/audit?upstream=u&mcpMethod=tools/call&tool=echo');
    expect(calls.json.items.map((r: any) => [r.tool, r.outcome, r.durationMs])).toEqual([
      ['echo', 'success', 7],
      ['echo', 'success', 6],
      ['echo', 'failure', 5],
    ]);
    expect(calls.json.items[0].user).toEqual({ id: admin.user.id, email: ADMIN.email });

    const proxied = await api('GET', `/audit?type=mcp.request&userId=${admin.user.id}&clientId=${(await api('GET', '/audit?type=token.issue')).json.items[0].clientId}`);
    expect(proxied.json.items.length).toBeGreaterThan(0);
    expect(proxied.json.items.every((r: any) => r.type === 'mcp.request' && r.upstreamSlug === 'u')).toBe(true);

    const { items, pages } = await allPages(api, '/audit?type=bulk.row', 200);
    expect(items).toHaveLength(BULK_ROWS);
    expect(pages).toBe(Math.ceil(BULK_ROWS / 200));
    expect(items.map((r) => r.detail.n)).toEqual(Array.from({ length: BULK_ROWS }, (_, i) => i));

    // A time range (inclusive at both ends): the ten newest bulk rows, 1 ms apart.
    const newest = items[0].at;
    const range = await api('GET', `/audit?from=${newest - 9}&to=${newest}`);
    expect(range.json.items.map((r: any) => r.detail.n)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('one row by id; 404 for none; the event types', async () => {
    const [first] = (await api('GET', '/audit?limit=1')).json.items;
    expect((await auditor('GET', `/audit/${first.id}`)).json).toEqual(first);
    const missing = await api('GET', '/audit/99999999');
    expect(missing.status).toBe(404);
    expect(missing.json.error).toBe('not_found');
    const types = (await api('GET', '/audit/event-types')).json;
    expect(types).toEqual([...types].sort());
    expect(types).toEqual(expect.arrayContaining(['bulk.row', 'consent', 'login', 'mcp.request', 'token.issue', 'user.create']));
  });

  it.each([
    ['/audit?outcome=maybe', 'outcome', 'must be one of: success, failure'],
    ['/audit?from=yesterday', 'from', 'must be a time in epoch milliseconds'],
    ['/audit?to=-5', 'to', 'must be a time in epoch milliseconds'],
    ['/audit?from=20&to=10', 'to', 'must not be before from'],
    ['/audit?limit=lots', 'limit', 'must be an integer number'],
    ['/audit?cursor=bm90LWEtY3Vyc29y', 'cursor', 'is not a cursor from this list'],
    ['/audit?colour=red', 'colour', 'is not a known field'],
    ['/audit?tool=<201 characters>', 'tool', 'must be shorter than or equal to 200 characters'],
    ['/audit/export', 'format', 'is required'],
    ['/audit/export?format=xlsx', 'format', 'must be one of: csv, jsonl'],
    ['/audit/export?format=csv&from=soon', 'from', 'must be a time in epoch milliseconds'],
    ['/audit/abc', 'id', 'must be a positive integer'],
    ['/dashboard?range=1y', 'range', 'must be one of: 24h, 7d'],
  ])('%s → 400 naming %s', async (path, field, problem) => {
    const res = await auditor('GET', path.replace('<201 characters>', 'x'.repeat(201)));
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({ error: 'invalid_request', fields: { [field]: problem } });
  });

  it('exports the filtered set as CSV (RFC 4180), streamed as an attachment', async () => {
    const res = await call(`${base}/admin/api/audit/export?format=csv&type=bulk.row`, { headers: { Cookie: admin.cookie } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/csv; charset=utf-8/);
    expect(res.headers.get('content-disposition')).toMatch(/^attachment; filename="gatehouse-audit-[\dTZ-]+\.csv"$/);
    expect(res.headers.get('cache-control')).toBe('no-store');
    // Streamed: chunked, no length known in advance.
    expect(res.headers.get('transfer-encoding')).toBe('chunked');
    expect(res.headers.get('content-length')).toBeNull();
    const lines = res.text.split('\r\n');
    expect(lines[0]).toBe('id,at,time,type,outcome,user_id,user_email,client_id,upstream_slug,mcp_method,tool,status,duration_ms,ip,detail,tool_arguments');
    expect(lines.pop()).toBe('');
    expect(lines).toHaveLength(BULK_ROWS + 1);
    expect(lines.slice(1).every((l) => l.includes(',bulk.row,success,') && l.includes(`,${ADMIN.email},`))).toBe(true);
    // The detail cell of row 0 starts with {, so it is quoted but not prefixed; the JSON inside keeps its text.
    expect(res.text).toContain('"{""n"":0,""note"":""+quote \\""me\\"", please""}"');
  });

  it('exports the filtered set as JSON Lines: one row of the API shape per line', async () => {
    const res = await call(`${base}/admin/api/audit/export?format=jsonl&upstream=u&tool=echo`, { headers: { Cookie: admin.cookie } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
    expect(res.headers.get('content-disposition')).toMatch(/\.jsonl"$/);
    const rows = res.text
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    const listed = (await api('GET', '/audit?upstream=u&tool=echo')).json.items;
    expect(rows).toEqual(listed);
    expect(rows).toHaveLength(3);
  });

  it('a client that stops reading an export mid-way does not hold up the gateway', async () => {
    const url = new URL(`${base}/admin/api/audit/export?format=jsonl`);
    await new Promise<void>((resolve, reject) => {
      const req = http.get(url, { headers: { Cookie: admin.cookie } }, (res) => {
        expect(res.statusCode).toBe(200);
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', (err) => ((err as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(err)));
    });
    const after = await api('GET', '/audit?limit=1');
    expect(after.status).toBe(200);
  });

  it('the dashboard: requests, errors, latency per upstream with its name, top tools, failed sign-ins, hourly series', async () => {
    const day = await auditor('GET', '/dashboard');
    expect(day.status).toBe(200);
    const u = day.json.perUpstream.find((x: any) => x.slug === 'u');
    // The MCP client's requests (initialize, notifications, tools/call, …) and the three recorded tool calls.
    expect(u.name).toBe('The upstream');
    expect(u.requests).toBeGreaterThanOrEqual(5);
    expect(u.errors).toBeGreaterThanOrEqual(1);
    expect(u.p50Ms).toEqual(expect.any(Number));
    expect(u.p95Ms).toBeGreaterThanOrEqual(u.p50Ms);
    expect(day.json.topTools).toEqual([
      { upstream: 'u', tool: 'echo', calls: 3 },
      { upstream: 'u', tool: 'whoami', calls: 1 },
    ]);
    expect(day.json.failedSignIns).toBe(1);
    expect(day.json.series).toHaveLength(25);
    expect(day.json.series.reduce((n: number, p: any) => n + p.requests, 0)).toBe(u.requests);
    expect(u.series.map((p: any) => p.t)).toEqual(day.json.series.map((p: any) => p.t));
    expect(day.json).toHaveProperty('activeUsers');
    expect(day.json).toHaveProperty('activeGrants');

    const week = await api('GET', '/dashboard?range=7d');
    expect(week.json.series).toHaveLength(7 * 24 + 1);
    expect(week.json.perUpstream.find((x: any) => x.slug === 'u').requests).toBe(u.requests);
  });
});
