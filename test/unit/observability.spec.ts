import 'reflect-metadata';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { AuditEvent } from '../../server/src/audit/audit-event.entity';
import { AuditCount, AuditRollup, AuditToolRollup } from '../../server/src/audit/audit-rollup.entity';
import { MIGRATIONS } from '../../server/src/database/migrations';
import { AuditRecord, AuditService } from '../../server/src/audit/audit.service';
import { SettledHours } from '../../server/src/audit/settled-hours';
import { ConfigError, loadConfig } from '../../server/src/config/config.loader';
import { ConfigService } from '../../server/src/config/config.service';
import { Transactions } from '../../server/src/database/transactions';
import { AppLogger } from '../../server/src/logging/app-logger';
import { LogOptions } from '../../server/src/logging/log-options';
import { prettyLine } from '../../server/src/logging/pretty-line';
import { GatewayMetrics } from '../../server/src/metrics/gateway-metrics';
import { MetricsTokenCheck } from '../../server/src/metrics/metrics-access';
import { createMetrics } from '../../server/src/metrics/metrics-recorder';
import { toolNameIn } from '../../server/src/proxy/mcp-method';
import { McpTelemetry } from '../../server/src/proxy/mcp-telemetry';
import { ensureTraceparent } from '../../server/src/tracing/trace-context';
import { RequestTracing } from '../../server/src/tracing/request-tracing';

/** Tracing as it is without an OTLP endpoint. */
const NO_EXPORT = new RequestTracing({ serviceName: 'gatehouse', serviceVersion: '0.0.0' });

/** A logger writing into an array, one parsed record (or pretty line) per entry. */
function capture(options: Partial<LogOptions> = {}) {
  const lines: string[] = [];
  const logger = AppLogger.create({ level: 'info', format: 'json', ...options }, { write: (s: string) => void lines.push(s) });
  return { logger, lines, records: () => lines.map((l) => JSON.parse(l)) };
}

describe('AppLogger (pino behind Nest)', () => {
  it('writes one JSON object per line with level, time, context and message, as Nest calls it', () => {
    const { logger, records } = capture();
    logger.log('vault unlocked', 'Vault');
    logger.warn('upstream slow', 'Proxy');
    logger.error('boom', 'Error: boom\n    at somewhere (file.ts:1:1)', 'ExceptionsHandler');
    const [info, warn, error] = records();
    expect(info).toMatchObject({ level: 'info', context: 'Vault', msg: 'vault unlocked' });
    expect(new Date(info.time).toISOString()).toBe(info.time);
    expect(warn).toMatchObject({ level: 'warn', context: 'Proxy', msg: 'upstream slow' });
    expect(error).toMatchObject({ level: 'error', context: 'ExceptionsHandler', msg: 'boom' });
    expect(error.stack).toContain('at somewhere');
  });

  it('logs an Error passed as the message with its stack', () => {
    const { logger, records } = capture();
    logger.error(new Error('database closed'), 'Audit');
    expect(records()[0]).toMatchObject({ level: 'error', context: 'Audit', msg: 'database closed' });
    expect(records()[0].stack).toMatch(/Error: database closed\n\s+at /);
  });

  it('honours the level: below it nothing is written', () => {
    const { logger, lines } = capture({ level: 'warn' });
    logger.log('chatty', 'X');
    logger.debug('chattier', 'X');
    logger.warn('problem', 'X');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]).msg).toBe('problem');
  });

  it("turns Nest's start-up chatter (a line per module and route) into debug lines", () => {
    const { logger, lines } = capture({ level: 'info' });
    logger.log('AppModule dependencies initialized', 'InstanceLoader');
    logger.log('Mapped {/healthz, GET} route', 'RouterExplorer');
    expect(lines).toHaveLength(0);
    const debug = capture({ level: 'debug' });
    debug.logger.log('Mapped {/healthz, GET} route', 'RouterExplorer');
    expect(debug.records()[0]).toMatchObject({ level: 'debug', context: 'RouterExplorer' });
  });

  it("narrows to a Nest log-level list (startGateway's logger option) and is silenced by false", () => {
    const { logger, lines } = capture({ level: 'info' });
    logger.limitTo(['error']);
    logger.warn('hidden', 'X');
    logger.error('shown', 'X');
    logger.limitTo(false);
    logger.error('hidden too', 'X');
    expect(lines.map((l) => JSON.parse(l).msg)).toEqual(['shown']);
  });

  it('child loggers carry their context (the access line)', () => {
    const { logger, records } = capture();
    logger.child('access').info({ upstream: 'notes', status: 200 }, 'mcp request');
    expect(records()[0]).toMatchObject({ level: 'info', context: 'access', msg: 'mcp request', upstream: 'notes', status: 200 });
  });

  it('pretty format: one compact line per record', () => {
    const { logger, lines } = capture({ format: 'pretty' });
    logger.child('access').info({ upstream: 'notes', tool: 'search docs', status: 200, user: 'u-1' }, 'mcp request');
    expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z INFO {2}\[access\] mcp request upstream=notes tool="search docs" status=200 user=u-1\n$/);
  });
});

describe('prettyLine', () => {
  it('quotes values a client chose, so they cannot start a line or fake a field', () => {
    const line = prettyLine(JSON.stringify({ time: 't', level: 'info', msg: 'mcp request', tool: 'x\nINFO fake=1', method: 'a b=c' }));
    expect(line.trimEnd().split('\n')).toHaveLength(1);
    expect(line).toContain('tool="x\\nINFO fake=1"');
    expect(line).toContain('method="a b=c"');
  });

  it('keeps a message on its line, and indents a stack trace below it', () => {
    const line = prettyLine(JSON.stringify({ time: 't', level: 'error', context: 'X', msg: 'two\nlines', stack: 'Error: e\n    at f' }));
    expect(line).toBe('t ERROR [X] two lines\n    Error: e\n        at f\n');
  });

  it('passes a line that is not JSON through', () => {
    expect(prettyLine('plain')).toBe('plain\n');
  });
});

describe('logging and metrics configuration', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'gatehouse-obs-cfg-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const load = (yaml: string, env: Record<string, string> = {}) => {
    const file = join(dir, 'config.yaml');
    writeFileSync(file, yaml);
    return loadConfig({ GATEHOUSE_CONFIG: file, ...env });
  };
  const problem = (yaml: string, env: Record<string, string> = {}): string => {
    try {
      load(yaml, env);
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return (err as ConfigError).message;
    }
    throw new Error('expected a ConfigError');
  };

  it('defaults to info, pretty, and metrics off', () => {
    const c = load('upstreams: []');
    expect(c.logging).toEqual({ level: 'info', format: 'pretty' });
    expect(c.metrics.token).toBeUndefined();
    expect(c.metrics.listen).toBeUndefined();
  });

  it('takes the defaults for a section whose keys are all commented out, as in config.example.yaml', () => {
    const c = load('logging:\n  # level: debug\nmetrics:\n  # token: ${METRICS_TOKEN}\n');
    expect(c.logging).toEqual({ level: 'info', format: 'pretty' });
    expect(c.metrics.token).toBeUndefined();
    const example = loadConfig({
      GATEHOUSE_CONFIG: join(__dirname, '..', '..', 'config.example.yaml'),
      INTERNAL_TOOLS_TOKEN: 't',
      INTERNAL_TOOLS_TENANT: 't',
      CALENDAR_CLIENT_SECRET: 's',
    });
    expect(example.logging).toEqual({ level: 'info', format: 'pretty' });
    expect(example.metrics).toEqual({});
  });

  it('LOG_LEVEL, LOG_FORMAT and METRICS_TOKEN override the file; empty values are unset', () => {
    const c = load('logging: { level: debug, format: pretty }\nmetrics: { token: from-the-file-0123456789 }', {
      LOG_LEVEL: 'WARN',
      LOG_FORMAT: 'json',
      METRICS_TOKEN: 'from-the-env-0123456789',
    });
    expect(c.logging).toEqual({ level: 'warn', format: 'json' });
    expect(c.metrics.token).toBe('from-the-env-0123456789');
    const unset = load('logging: { level: debug }', { LOG_LEVEL: '', LOG_FORMAT: '', METRICS_TOKEN: '' });
    expect(unset.logging.level).toBe('debug');
    expect(unset.metrics.token).toBeUndefined();
  });

  it('refuses a bad level or format, naming the key', () => {
    expect(problem('upstreams: []', { LOG_LEVEL: 'loud' })).toMatch(/^invalid configuration: logging\.level: must be one of silent, fatal, error, warn, info, debug, trace$/);
    expect(problem('logging: { format: xml }')).toMatch(/logging\.format: must be one of pretty, json/);
  });

  it('refuses a short or unsendable metrics token, and a metrics listener off loopback', () => {
    expect(problem('metrics: { token: short }')).toMatch(/metrics\.token: must be at least 16 characters/);
    expect(problem('metrics: { token: "has spaces in it, 0123456789" }')).toMatch(/metrics\.token: may only use the characters/);
    expect(problem('metrics: { listen: "0.0.0.0:9464" }')).toMatch(/metrics\.listen: must be a loopback address and port/);
    expect(problem('metrics: { listen: "127.0.0.1" }')).toMatch(/metrics\.listen/);
    expect(load('metrics: { listen: "127.0.0.1:9464", token: "" }').metrics).toEqual({ listen: '127.0.0.1:9464', token: '' });
    expect(load('metrics: { listen: "[::1]:9464" }').metrics.listen).toBe('[::1]:9464');
  });
});

describe('W3C traceparent (ensureTraceparent)', () => {
  const VALID = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

  it('keeps a valid traceparent (and its tracestate) unchanged and returns its trace id', () => {
    const headers: Record<string, string> = { traceparent: VALID, tracestate: 'vendor=abc' };
    expect(ensureTraceparent(headers)).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(headers).toEqual({ traceparent: VALID, tracestate: 'vendor=abc' });
  });

  it('accepts a later version with more fields (§3.2.4)', () => {
    const headers: Record<string, string> = { traceparent: `cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future` };
    expect(ensureTraceparent(headers)).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
  });

  it.each([
    ['missing', undefined],
    ['uppercase hex', VALID.toUpperCase()],
    ['version ff', VALID.replace(/^00/, 'ff')],
    ['an all-zero trace id', `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`],
    ['an all-zero parent id', `00-4bf92f3577b34da6a3ce929d0e0e4736-${'0'.repeat(16)}-01`],
    ['version 00 with more fields', `${VALID}-extra`],
    ['two headers joined', `${VALID}, ${VALID}`],
    ['garbage', 'hello'],
  ])('replaces %s with a new sampled traceparent and drops tracestate', (_, sent) => {
    const headers: Record<string, string | undefined> = { traceparent: sent, tracestate: 'vendor=abc' };
    const traceId = ensureTraceparent(headers);
    expect(headers.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(headers.traceparent!.slice(3, 35)).toBe(traceId);
    expect(traceId).not.toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(headers.tracestate).toBeUndefined();
  });

  it('generates a different id for every request, across pool refills', () => {
    const ids = new Set<string>();
    for (let i = 0; i < 1000; i++) ids.add(ensureTraceparent({}));
    expect(ids.size).toBe(1000);
  });
});

describe('toolNameIn (the tool of a tools/call, from the first bytes)', () => {
  it('reads params.name where the SDKs write it, without parsing', () => {
    expect(toolNameIn('{"method":"tools/call","params":{"name":"echo","arguments":{"name":"not this"}},"jsonrpc":"2.0","id":2}', false)).toBe('echo');
  });

  it('parses a complete body whose params.name comes later', () => {
    const body = JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { _meta: { progressToken: 1 }, arguments: { name: 'decoy' }, name: 'count' } });
    expect(toolNameIn(body, true)).toBe('count');
    expect(toolNameIn(`[${body}]`, true)).toBe('count');
  });

  it('gives up on a partial body or one without a name, and keeps at most 128 characters', () => {
    expect(toolNameIn('{"method":"tools/call","params":{"arguments":{"x":1},"na', false)).toBeNull();
    expect(toolNameIn('{"method":"tools/call","params":{"arguments":{}}}', true)).toBeNull();
    expect(toolNameIn('{"method":"tools/call","params":{"name":42}}', true)).toBeNull();
    const long = 'x'.repeat(300);
    expect(toolNameIn(JSON.stringify({ method: 'tools/call', params: { arguments: {}, name: long } }), true)).toBe('x'.repeat(128));
  });
});

describe('MetricsTokenCheck', () => {
  const token = 'metrics-token-0123456789abcdef';

  it('is disabled without a configured token', () => {
    expect(new MetricsTokenCheck(undefined).check(`Bearer ${token}`)).toBe('disabled');
    expect(new MetricsTokenCheck('').check(`Bearer ${token}`)).toBe('disabled');
  });

  it('allows exactly the configured bearer token', () => {
    const check = new MetricsTokenCheck(token);
    expect(check.check(`Bearer ${token}`)).toBe('allowed');
    expect(check.check(`bearer ${token}`)).toBe('allowed');
    expect(check.check(undefined)).toBe('missing');
    expect(check.check(`Bearer ${token}x`)).toBe('invalid');
    expect(check.check(`Bearer ${token.slice(0, -1)}`)).toBe('invalid');
    expect(check.check(`Basic ${token}`)).toBe('invalid');
    expect(check.check('Bearer ')).toBe('invalid');
  });
});

describe('GatewayMetrics', () => {
  const sample = (text: string, series: string): number | undefined => {
    const line = text.split('\n').find((l) => l.startsWith(`${series} `));
    return line === undefined ? undefined : Number(line.slice(series.length + 1));
  };

  it('counts requests per upstream and status, latency per upstream, errors per kind', async () => {
    const m = new GatewayMetrics();
    m.mcpRequest('notes', 200, 0.02, 'POST', null);
    m.mcpRequest('notes', 200, 0.3, 'POST', null);
    m.mcpRequest('notes', 429, 0.001, 'POST', 'rate.limit');
    m.mcpRequest('notes', 200, 45, 'GET', null);
    const text = await m.metrics();
    expect(sample(text, 'gatehouse_mcp_requests_total{upstream="notes",status="200"}')).toBe(3);
    expect(sample(text, 'gatehouse_mcp_requests_total{upstream="notes",status="429"}')).toBe(1);
    expect(sample(text, 'gatehouse_mcp_errors_total{upstream="notes",kind="rate.limit"}')).toBe(1);
    // The GET (an event stream, open as long as the client listens) is not a latency.
    expect(sample(text, 'gatehouse_mcp_request_duration_seconds_count{upstream="notes"}')).toBe(3);
    expect(sample(text, 'gatehouse_mcp_request_duration_seconds_bucket{le="0.025",upstream="notes"}')).toBe(2);
    expect(sample(text, 'gatehouse_mcp_request_duration_seconds_bucket{le="+Inf",upstream="notes"}')).toBe(3);
    expect(text).toContain('process_cpu_user_seconds_total');
    expect(text).toContain('nodejs_eventloop_lag_seconds');
  });

  it('counts issued and refreshed tokens and failed sign-ins from audit events', async () => {
    const m = new GatewayMetrics();
    const events: AuditRecord[] = [
      { type: 'token.issue', outcome: 'success' },
      { type: 'token.issue', outcome: 'success' },
      { type: 'token.refresh', outcome: 'success' },
      { type: 'login', outcome: 'failure' },
      { type: 'login', outcome: 'success' },
      { type: 'mcp.request', outcome: 'success' },
    ];
    events.forEach((e) => m.auditEvent(e));
    const text = await m.metrics();
    expect(sample(text, 'gatehouse_tokens_issued_total')).toBe(2);
    expect(sample(text, 'gatehouse_tokens_refreshed_total')).toBe(1);
    expect(sample(text, 'gatehouse_signin_failures_total')).toBe(1);
  });

  it('reads active grants and upstream states from their sources at each scrape, only when given', async () => {
    const m = new GatewayMetrics();
    expect(await m.metrics()).not.toContain('gatehouse_active_grants');
    let grants = 3;
    let states = [
      { slug: 'a', reachable: true },
      { slug: 'b', reachable: false },
    ];
    m.addActiveGrants(() => Promise.resolve(grants));
    m.addUpstreamStates(() => states);
    let text = await m.metrics();
    expect(sample(text, 'gatehouse_active_grants')).toBe(3);
    expect(sample(text, 'gatehouse_upstream_up{upstream="a"}')).toBe(1);
    expect(sample(text, 'gatehouse_upstream_up{upstream="b"}')).toBe(0);
    grants = 5;
    states = [{ slug: 'a', reachable: false }];
    text = await m.metrics();
    expect(sample(text, 'gatehouse_active_grants')).toBe(5);
    expect(sample(text, 'gatehouse_upstream_up{upstream="a"}')).toBe(0);
    expect(sample(text, 'gatehouse_upstream_up{upstream="b"}')).toBeUndefined();
  });

  it('a failing source does not fail the scrape', async () => {
    const m = new GatewayMetrics();
    m.addActiveGrants(() => Promise.reject(new Error('db gone')));
    m.addUpstreamStates(() => {
      throw new Error('probe gone');
    });
    m.mcpRequest('notes', 200, 0.01, 'POST', null);
    expect(sample(await m.metrics(), 'gatehouse_mcp_requests_total{upstream="notes",status="200"}')).toBe(1);
  });

  it('are real only when someone can read them (metrics.token or metrics.listen), else a no-op', async () => {
    const config = (metrics: object) => Object.assign(loadConfig({}), { metrics });
    const off = createMetrics(config({}));
    expect(off.enabled).toBe(false);
    off.mcpRequest('notes', 200, 0.01, 'POST', null);
    expect(await off.metrics()).toBe('');
    for (const on of [{ token: 'metrics-token-0123456789' }, { listen: '127.0.0.1:9464' }]) {
      const m = createMetrics(config(on));
      expect(m.enabled).toBe(true);
      m.mcpRequest('notes', 200, 0.01, 'POST', null);
      expect(sample(await m.metrics(), 'gatehouse_mcp_requests_total{upstream="notes",status="200"}')).toBe(1);
    }
  });

  it('keeps two gateways in one process apart (a registry each)', async () => {
    const a = new GatewayMetrics();
    const b = new GatewayMetrics();
    a.mcpRequest('notes', 200, 0.01, 'POST', null);
    expect(sample(await a.metrics(), 'gatehouse_mcp_requests_total{upstream="notes",status="200"}')).toBe(1);
    expect(sample(await b.metrics(), 'gatehouse_mcp_requests_total{upstream="notes",status="200"}')).toBeUndefined();
  });
});

describe('AuditService.onEvent (what the metrics count from)', () => {
  let ds: DataSource;
  let transactions: Transactions;
  let audit: AuditService;
  let seen: string[];

  beforeEach(async () => {
    // The audit tables as the migrations make them (rows and the rollups written with them).
    ds = new DataSource({
      type: 'better-sqlite3',
      database: ':memory:',
      entities: [AuditEvent, AuditRollup, AuditToolRollup, AuditCount],
      migrations: MIGRATIONS,
      migrationsRun: true,
    });
    await ds.initialize();
    transactions = new Transactions(ds);
    audit = new AuditService(ds.getRepository(AuditEvent), new ConfigService(loadConfig({})), transactions, new SettledHours());
    seen = [];
    audit.onEvent((e) => seen.push(`${e.type}:${e.outcome}`));
  });
  afterEach(async () => {
    await audit.flush();
    await ds.destroy();
  });

  it('hears a recordIn row once its transaction commits, and never one rolled back', async () => {
    await transactions.run(async (tx) => {
      await audit.recordIn(tx, { type: 'token.issue', outcome: 'success' });
      // Not yet: the transaction could still roll back.
      expect(seen).toEqual([]);
    });
    expect(seen).toEqual(['token.issue:success']);
    await expect(
      transactions.run(async (tx) => {
        await audit.recordIn(tx, { type: 'token.refresh', outcome: 'success' });
        throw new Error('the change failed');
      }),
    ).rejects.toThrow('the change failed');
    expect(seen).toEqual(['token.issue:success']);
  });

  it('hears recordNow and record rows', async () => {
    await audit.recordNow({ type: 'login', outcome: 'failure' });
    audit.record({ type: 'mcp.request', outcome: 'success' });
    expect(seen).toEqual(['login:failure', 'mcp.request:success']);
  });

  it("a listener's throw reaches neither the caller nor the other listeners", async () => {
    const after: string[] = [];
    audit.onEvent(() => {
      throw new Error('listener bug');
    });
    audit.onEvent((e) => after.push(e.type));
    (audit as any).logger = { error: () => undefined };
    await expect(audit.recordNow({ type: 'login', outcome: 'failure' })).resolves.toBeUndefined();
    expect(after).toEqual(['login']);
  });
});

describe('McpTelemetry (the access line and request metrics)', () => {
  const req = { method: 'POST', socket: { remoteAddress: '127.0.0.1' } } as any;
  const record = (over: Partial<AuditRecord> = {}): AuditRecord => ({
    type: 'mcp.request',
    outcome: 'success',
    userId: 'u-1',
    clientId: 'c-1',
    upstreamSlug: 'notes',
    mcpMethod: 'tools/call',
    status: 200,
    durationMs: 12,
    ip: '127.0.0.1',
    detail: null,
    ...over,
  });

  it('writes who and what, and counts the request with its error kind', async () => {
    const { logger, records } = capture();
    const metrics = createMetrics(Object.assign(loadConfig({}), { metrics: { listen: '127.0.0.1:9464' } }));
    const telemetry = new McpTelemetry(logger.child('access'), metrics, NO_EXPORT);
    telemetry.requestDone(req, record(), { tool: 'search', traceId: 'a'.repeat(32) }, 12.3);
    telemetry.requestDone(req, record({ type: 'scope.deny', outcome: 'failure', status: 403 }), {}, 1);
    telemetry.requestDone(req, record({ outcome: 'failure', status: 502 }), { errorKind: 'upstream.unreachable' }, 1);
    telemetry.requestDone(req, record({ outcome: 'failure', status: 404 }), {}, 1);
    expect(records()[0]).toEqual({
      level: 'info',
      time: expect.any(String),
      context: 'access',
      msg: 'mcp request',
      upstream: 'notes',
      http: 'POST',
      method: 'tools/call',
      tool: 'search',
      status: 200,
      duration_ms: 12,
      user: 'u-1',
      client: 'c-1',
      trace_id: 'a'.repeat(32),
      ip: '127.0.0.1',
    });
    expect(
      records()
        .slice(1)
        .map((r) => r.error),
    ).toEqual(['scope.deny', 'upstream.unreachable', 'status_4xx']);
    const text = await metrics.metrics();
    for (const kind of ['scope.deny', 'upstream.unreachable', 'status_4xx']) expect(text).toContain(`gatehouse_mcp_errors_total{upstream="notes",kind="${kind}"} 1`);
  });

  it("bounds a client's Mcp-Method header in the line", () => {
    const { logger, records } = capture();
    new McpTelemetry(logger.child('access'), createMetrics(loadConfig({})), NO_EXPORT).requestDone(req, record({ mcpMethod: 'm'.repeat(10_000) }), {}, 1);
    expect(records()[0].method).toBe('m'.repeat(128));
  });

  it('builds no line when info is off', () => {
    const { logger, lines } = capture({ level: 'warn' });
    new McpTelemetry(logger.child('access'), createMetrics(loadConfig({})), NO_EXPORT).requestDone(req, record(), {}, 1);
    expect(lines).toEqual([]);
  });
});
