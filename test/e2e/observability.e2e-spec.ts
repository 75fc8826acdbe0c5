import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunningUpstream, startUpstream } from '../fixtures/upstream-mcp-server';
import { TestBrowser } from '../helpers/browser';
import { ADMIN, freePort, startTestGateway, TestGateway } from '../helpers/gateway';
import { connectWithOAuth } from '../helpers/oauth-client';
import { mcpPost, tokenRequest } from '../helpers/raw-oauth';
import { SpawnedGateway, spawnGateway } from '../helpers/spawn-gateway';

const API_KEY = 'upstream-api-key-never-logged-42';
const METRICS_TOKEN = 'metrics-scrape-token-0123456789abcdef';

/** The value of one series in a Prometheus text exposition (undefined when absent). */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

async function scrape(url: string, token?: string): Promise<{ status: number; text: string; headers: Headers }> {
  const res = await fetch(url, { headers: token === undefined ? {} : { Authorization: `Bearer ${token}` } });
  return { status: res.status, text: await res.text(), headers: res.headers };
}

/** Polls until `check` passes (bounded); for state that changes on the gateway's side. */
async function eventually<T>(read: () => Promise<T>, check: (value: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (check(value)) return value;
    if (Date.now() > deadline) throw new Error(`still not as expected after ${timeoutMs} ms: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('observability: /metrics behind its token', () => {
  let upstream: RunningUpstream;
  let gateway: TestGateway;
  const metricsUrl = () => `${gateway.url}/metrics`;

  beforeAll(async () => {
    upstream = await startUpstream({ requiredHeaders: { 'x-api-key': API_KEY } });
    gateway = await startTestGateway({
      config: {
        metrics: { token: METRICS_TOKEN },
        upstreams: [{ slug: 'tools', url: upstream.url, auth: { mode: 'headers', headers: { 'X-API-Key': API_KEY } } }],
      },
    });
  });
  afterAll(async () => {
    await gateway?.close();
    await upstream?.close();
    gateway?.cleanup();
  });

  it('refuses a scrape without the token or with a wrong one (401 with a Bearer challenge)', async () => {
    const none = await scrape(metricsUrl());
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer realm="gatehouse-metrics"');
    expect(none.text).not.toContain('gatehouse_');
    const wrong = await scrape(metricsUrl(), `${METRICS_TOKEN}x`);
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toBe('Bearer realm="gatehouse-metrics", error="invalid_token"');
    expect(JSON.parse(wrong.text)).toEqual({ error: 'invalid_token', message: 'the metrics token is not valid' });
    const basic = await fetch(metricsUrl(), { headers: { Authorization: `Basic ${METRICS_TOKEN}` } });
    expect(basic.status).toBe(401);
  });

  it('with the token, shows the counters moving after proxied calls, tokens issued and refreshed, failed sign-ins', async () => {
    const before = await scrape(metricsUrl(), METRICS_TOKEN);
    expect(before.status).toBe(200);
    expect(before.headers.get('content-type')).toMatch(/^text\/plain;/);
    expect(before.headers.get('content-type')).toContain('version=0.0.4');
    expect(before.headers.get('cache-control')).toBe('no-store');
    const ok = 'gatehouse_mcp_requests_total{upstream="tools",status="200"}';
    const issued = (t: string) => sample(t, 'gatehouse_tokens_issued_total') ?? 0;

    const { client, provider } = await connectWithOAuth(gateway.mcpUrl('tools'), ADMIN);
    await client.listTools();
    await client.callTool({ name: 'echo', arguments: { text: 'counted' } });
    await client.close();
    // A refresh of the client's token, and a sign-in with a wrong password.
    const refreshed = await tokenRequest(gateway.url, {
      grant_type: 'refresh_token',
      refresh_token: provider.tokens()!.refresh_token,
      client_id: provider.clientInformation()!.client_id,
    });
    expect(refreshed.status).toBe(200);
    const browser = new TestBrowser();
    const login = await browser.get(`${gateway.url}/login`);
    expect((await browser.submit(login, { email: ADMIN.email, password: 'not the password' })).status).toBe(401);
    // A request for a session the upstream does not know: it answers with a 4xx, counted as an error.
    const access = provider.tokens()!.access_token;
    const refusedByUpstream = await mcpPost(
      gateway.mcpUrl('tools'),
      refreshed.json.access_token,
      { jsonrpc: '2.0', id: 9, method: 'tools/list' },
      { 'Mcp-Session-Id': 'no-such-session' },
    );
    expect(refusedByUpstream.status).toBeGreaterThanOrEqual(400);

    const after = await eventually(
      () => scrape(metricsUrl(), METRICS_TOKEN),
      (s) => (sample(s.text, ok) ?? 0) >= (sample(before.text, ok) ?? 0) + 3,
    );
    const text = after.text;
    // initialize, notifications/initialized, tools/list, tools/call (and the SDK's GET stream) answered 2xx.
    expect(sample(text, ok)! - (sample(before.text, ok) ?? 0)).toBeGreaterThanOrEqual(3);
    // The SDK's first request had no token: the 401 is counted too.
    expect(sample(text, 'gatehouse_mcp_requests_total{upstream="tools",status="401"}')).toBeGreaterThanOrEqual(1);
    expect(sample(text, `gatehouse_mcp_requests_total{upstream="tools",status="${refusedByUpstream.status}"}`)).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'gatehouse_mcp_errors_total{upstream="tools",kind="status_4xx"}')).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'gatehouse_mcp_request_duration_seconds_count{upstream="tools"}')).toBeGreaterThanOrEqual(3);
    expect(text).toContain('gatehouse_mcp_request_duration_seconds_bucket{le="0.1",upstream="tools"}');
    expect(issued(text) - issued(before.text)).toBe(1);
    expect((sample(text, 'gatehouse_tokens_refreshed_total') ?? 0) - (sample(before.text, 'gatehouse_tokens_refreshed_total') ?? 0)).toBe(1);
    expect((sample(text, 'gatehouse_signin_failures_total') ?? 0) - (sample(before.text, 'gatehouse_signin_failures_total') ?? 0)).toBe(1);
    expect(text).toContain('process_resident_memory_bytes');
    // Nothing secret in the exposition.
    for (const secret of [access, API_KEY, METRICS_TOKEN, provider.tokens()!.refresh_token!]) expect(text).not.toContain(secret);
  });

  it('passes a valid W3C traceparent upstream unchanged, and sends a new one when the client sent none', async () => {
    const { client, provider } = await connectWithOAuth(gateway.mcpUrl('tools'), ADMIN);
    await client.close();
    const token = provider.tokens()!.access_token;
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const traced = await mcpPost(gateway.mcpUrl('tools'), token, undefined, { traceparent, tracestate: 'vendor=1', 'X-Test': 'traced' });
    expect(traced.status).toBe(200);
    const untraced = await mcpPost(gateway.mcpUrl('tools'), token, undefined, { 'X-Test': 'untraced' });
    expect(untraced.status).toBe(200);
    const first = upstream.seen.find((r) => r.headers['x-test'] === 'traced')!;
    const second = upstream.seen.find((r) => r.headers['x-test'] === 'untraced')!;
    expect(first.headers.traceparent).toBe(traceparent);
    expect(first.headers.tracestate).toBe('vendor=1');
    expect(second.headers.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(second.headers.traceparent).not.toContain('4bf92f3577b34da6a3ce929d0e0e4736');
    // Every request the SDK sent went upstream with one (the gateway's own reachability probe, a HEAD, is not proxied).
    for (const r of upstream.seen.filter((seen) => seen.method !== 'HEAD')) expect(r.headers.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
  });
});

describe('observability: /metrics off, or on a loopback listener', () => {
  let upstream: RunningUpstream;
  beforeAll(async () => (upstream = await startUpstream()));
  afterAll(async () => upstream?.close());

  it('without a token, /metrics answers 404 (disabled), whatever the Authorization', async () => {
    const gateway = await startTestGateway({ config: { upstreams: [{ slug: 'tools', url: upstream.url }] } });
    try {
      expect((await scrape(`${gateway.url}/metrics`)).status).toBe(404);
      const withToken = await scrape(`${gateway.url}/metrics`, METRICS_TOKEN);
      expect(withToken.status).toBe(404);
      expect(withToken.text).not.toContain('gatehouse_');
    } finally {
      await gateway.close();
      gateway.cleanup();
    }
  });

  it('metrics.listen serves /metrics without a token on its own loopback port, and nothing else there', async () => {
    const port = await freePort();
    const gateway = await startTestGateway({ config: { metrics: { listen: `127.0.0.1:${port}` }, upstreams: [{ slug: 'tools', url: upstream.url }] } });
    try {
      const { client } = await connectWithOAuth(gateway.mcpUrl('tools'), ADMIN);
      await client.listTools();
      await client.close();
      const side = await eventually(
        () => scrape(`http://127.0.0.1:${port}/metrics`),
        (s) => (sample(s.text, 'gatehouse_mcp_requests_total{upstream="tools",status="200"}') ?? 0) >= 2,
      );
      expect(side.status).toBe(200);
      expect(side.text).toContain('gatehouse_mcp_request_duration_seconds_bucket');
      expect((await fetch(`http://127.0.0.1:${port}/`)).status).toBe(404);
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(404);
      expect((await fetch(`http://127.0.0.1:${port}/metrics`, { method: 'POST' })).status).toBe(405);
      // The gateway's own port still has no token-less /metrics.
      expect((await scrape(`${gateway.url}/metrics`)).status).toBe(404);
    } finally {
      await gateway.close();
      gateway.cleanup();
    }
    // Closed with the gateway.
    await expect(fetch(`http://127.0.0.1:${port}/metrics`)).rejects.toThrow();
  });
});

describe('observability: /healthz and /readyz', () => {
  let upstream: RunningUpstream;
  beforeAll(async () => (upstream = await startUpstream()));
  afterAll(async () => upstream?.close());

  it('/readyz is ready with every check ok; /healthz is alive', async () => {
    const gateway = await startTestGateway({ config: { upstreams: [{ slug: 'tools', url: upstream.url }] } });
    try {
      const res = await fetch(`${gateway.url}/readyz`);
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(await res.json()).toEqual({
        status: 'ready',
        checks: { database: { status: 'ok' }, migrations: { status: 'ok' }, vault: { status: 'ok' }, upstreams: { status: 'ok' } },
      });
      const live = await fetch(`${gateway.url}/healthz`);
      expect(live.status).toBe(200);
      expect(await live.json()).toEqual({ status: 'ok' });
    } finally {
      await gateway.close();
      gateway.cleanup();
    }
  });

  it('/readyz is not ready (503, naming the check) when no upstream is enabled', async () => {
    const gateway = await startTestGateway({ config: { upstreams: [{ slug: 'off', url: upstream.url, enabled: false }] } });
    try {
      const res = await fetch(`${gateway.url}/readyz`);
      expect(res.status).toBe(503);
      const body = await res.json();
      expect(body).toMatchObject({
        status: 'not_ready',
        failing: ['upstreams'],
        checks: { upstreams: { status: 'failing', reason: 'no upstream is enabled' }, database: { status: 'ok' } },
      });
      expect((await fetch(`${gateway.url}/healthz`)).status).toBe(200);
    } finally {
      await gateway.close();
      gateway.cleanup();
    }
  });

  // Root may write any file whatever its mode, so as root the gateway runs as nobody (65534) here;
  // any other user is refused by the modes themselves.
  const canTest = typeof process.getuid === 'function';
  (canTest ? it : it.skip)('/readyz turns not ready when the database becomes unwritable, and ready again when it is writable', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-readyz-'));
    const dataDir = join(dir, 'data');
    const port = await freePort();
    const asNobody = process.getuid!() === 0 ? { uid: 65534, gid: 65534 } : undefined;
    mkdirSync(dataDir, { mode: 0o700 });
    const config = join(dir, 'config.yaml');
    writeFileSync(config, JSON.stringify({ server: { host: '127.0.0.1', port, data_dir: dataDir }, upstreams: [{ slug: 'tools', url: upstream.url }] }));
    if (asNobody) {
      chmodSync(dir, 0o755);
      chownSync(dataDir, asNobody.uid, asNobody.gid);
    }
    const gw: SpawnedGateway = spawnGateway(
      { GATEHOUSE_CONFIG: config, GATEHOUSE_ADMIN_EMAIL: ADMIN.email, GATEHOUSE_ADMIN_PASSWORD: ADMIN.password, LOG_LEVEL: 'warn' },
      dir,
      asNobody,
    );
    const readyz = async () => {
      const res = await fetch(`http://127.0.0.1:${port}/readyz`);
      return { status: res.status, body: (await res.json()) as any };
    };
    try {
      await gw.waitFor('Gatehouse listening');
      expect((await readyz()).status).toBe(200);

      chmodSync(join(dataDir, 'gatehouse.db'), 0o400);
      chmodSync(dataDir, 0o500);
      const down = await eventually(readyz, (r) => r.status === 503);
      expect(down.body.failing).toEqual(['database']);
      expect(down.body.checks.database).toEqual({ status: 'failing', reason: 'the data directory is not writable (EACCES)' });
      // The reason answered to anyone names no path; the log has it.
      expect(JSON.stringify(down.body)).not.toContain(dir);
      await gw.waitFor('not ready: database');

      chmodSync(dataDir, 0o700);
      const fileOnly = await eventually(readyz, (r) => r.body.checks.database.reason !== 'the data directory is not writable (EACCES)');
      expect(fileOnly.body.checks.database).toEqual({ status: 'failing', reason: 'the database file is not writable (EACCES)' });

      chmodSync(join(dataDir, 'gatehouse.db'), 0o600);
      const up = await eventually(readyz, (r) => r.status === 200);
      expect(up.body.status).toBe('ready');
    } finally {
      chmodSync(dataDir, 0o700);
      expect(await gw.stop()).toBe(0);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('observability: logs', () => {
  let upstream: RunningUpstream;
  let dir: string;
  beforeAll(async () => (upstream = await startUpstream({ requiredHeaders: { 'x-api-key': API_KEY } })));
  afterAll(async () => upstream?.close());
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'gatehouse-logs-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** Starts the real entry point on a config with the fixture upstream, in its own data directory. */
  async function start(env: Record<string, string>): Promise<{ gw: SpawnedGateway; base: string }> {
    const port = await freePort();
    const config = join(dir, `config-${port}.yaml`);
    writeFileSync(
      config,
      JSON.stringify({
        server: { host: '127.0.0.1', port, public_url: `http://127.0.0.1:${port}`, data_dir: join(dir, `data-${port}`) },
        rate_limit: { oauth_per_minute: 10_000, login_per_minute: 10_000 },
        upstreams: [{ slug: 'tools', url: upstream.url, auth: { mode: 'headers', headers: { 'X-API-Key': API_KEY } } }],
      }),
    );
    const gw = spawnGateway({ GATEHOUSE_CONFIG: config, GATEHOUSE_ADMIN_EMAIL: ADMIN.email, GATEHOUSE_ADMIN_PASSWORD: ADMIN.password, ...env }, dir);
    await gw.waitFor('Gatehouse listening');
    return { gw, base: `http://127.0.0.1:${port}` };
  }

  it('LOG_FORMAT=json: parseable JSON lines, one access line per MCP request with who and what, never a token or a body', async () => {
    const { gw, base } = await start({ LOG_FORMAT: 'json' });
    const seenBefore = upstream.seen.length;
    const body = 'a-body-text-that-must-not-be-logged';
    let tokens: string[] = [];
    try {
      const { client, provider } = await connectWithOAuth(`${base}/mcp/tools`, ADMIN);
      await client.listTools();
      await client.callTool({ name: 'echo', arguments: { text: body } });
      await client.close();
      tokens = [provider.tokens()!.access_token, provider.tokens()!.refresh_token!];
    } finally {
      expect(await gw.stop()).toBe(0);
    }
    const out = gw.output();
    // The start-up text stays as it was; every other line is one JSON object.
    expect(out).toContain('Gatehouse listening on 127.0.0.1:');
    const jsonLines = out.split('\n').filter((l) => l.startsWith('{'));
    const records = jsonLines.map((l) => JSON.parse(l));
    expect(records.length).toBeGreaterThan(0);
    for (const r of records) {
      expect(typeof r.level).toBe('string');
      expect(typeof r.time).toBe('string');
    }
    const access = records.filter((r) => r.context === 'access');
    const authenticated = access.filter((r) => r.user);
    // One line per request the upstream received (each went through the gateway), plus the SDK's first, unauthenticated try.
    expect(authenticated).toHaveLength(upstream.seen.length - seenBefore);
    expect(access.some((r) => r.status === 401 && !r.user)).toBe(true);
    for (const r of authenticated) {
      expect(r).toMatchObject({ level: 'info', msg: 'mcp request', upstream: 'tools' });
      expect(typeof r.status).toBe('number');
      expect(typeof r.duration_ms).toBe('number');
      expect(r.trace_id).toMatch(/^[0-9a-f]{32}$/);
      expect(typeof r.user).toBe('string');
    }
    expect(authenticated.find((r) => r.method === 'tools/list')).toMatchObject({ status: 200, http: 'POST' });
    expect(authenticated.find((r) => r.method === 'tools/call')).toMatchObject({ tool: 'echo', status: 200 });
    // The trace id of a line is the one the upstream got.
    const upstreamTraces = upstream.seen.slice(seenBefore).map((r) => String(r.headers.traceparent).slice(3, 35));
    expect(upstreamTraces).toEqual(expect.arrayContaining(authenticated.map((r) => r.trace_id)));
    for (const secret of [...tokens, API_KEY, body]) expect(out).not.toContain(secret);
  });

  it('LOG_LEVEL=warn leaves the access lines out', async () => {
    const { gw, base } = await start({ LOG_FORMAT: 'json', LOG_LEVEL: 'warn' });
    const seenBefore = upstream.seen.length;
    try {
      const { client } = await connectWithOAuth(`${base}/mcp/tools`, ADMIN);
      await client.listTools();
      await client.close();
    } finally {
      expect(await gw.stop()).toBe(0);
    }
    expect(upstream.seen.length).toBeGreaterThan(seenBefore);
    expect(gw.output()).not.toContain('"context":"access"');
    expect(gw.output()).not.toContain('mcp request');
    expect(gw.output()).toContain('Gatehouse listening on');
  });

  it('the default pretty format writes a compact access line', async () => {
    const { gw, base } = await start({});
    try {
      const { client } = await connectWithOAuth(`${base}/mcp/tools`, ADMIN);
      await client.callTool({ name: 'echo', arguments: { text: 'x' } });
      await client.close();
    } finally {
      expect(await gw.stop()).toBe(0);
    }
    expect(gw.output()).toMatch(
      /^\S+Z INFO {2}\[access\] mcp request upstream=tools http=POST method=tools\/call tool=echo status=200 duration_ms=\d+ user=\S+ client=\S+ trace_id=[0-9a-f]{32} ip=\S+$/m,
    );
  });

  it('a bad LOG_LEVEL stops the start with exit code 2, naming the key', async () => {
    const config = join(dir, 'config.yaml');
    writeFileSync(config, JSON.stringify({ server: { data_dir: join(dir, 'data') } }));
    const gw = spawnGateway({ GATEHOUSE_CONFIG: config, LOG_LEVEL: 'chatty' }, dir);
    expect(await gw.exited).toBe(2);
    expect(gw.output()).toContain('invalid configuration: logging.level: must be one of');
  });
});
