import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunningUpstream, startUpstream } from '../fixtures/upstream-mcp-server';
import { ADMIN, configFrom, freePort } from '../helpers/gateway';
import { connectWithOAuth } from '../helpers/oauth-client';
import { mcpPost } from '../helpers/raw-oauth';
import { SpawnedGateway, spawnGateway } from '../helpers/spawn-gateway';

/** A span as OTLP/HTTP JSON carries it (opentelemetry-proto, trace/v1). */
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: { key: string; value: Record<string, unknown> }[];
  status?: { code?: number };
}

/** A loopback OTLP/HTTP collector keeping every span it is sent, with the service.name of its resource. */
async function startCollector() {
  const spans: (OtlpSpan & { service: string })[] = [];
  const paths: string[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      paths.push(`${req.method} ${req.url} ${req.headers['content-type']} ${String(req.headers['x-collector-key'] ?? '')}`);
      const body: any = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      for (const rs of body.resourceSpans ?? []) {
        const service = rs.resource?.attributes?.find((a: any) => a.key === 'service.name')?.value?.stringValue;
        for (const ss of rs.scopeSpans ?? []) for (const span of ss.spans ?? []) spans.push({ ...span, service });
      }
      res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    spans,
    paths,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

function attr(span: OtlpSpan, key: string): unknown {
  const value = span.attributes.find((a) => a.key === key)?.value;
  return value && Object.values(value)[0];
}

// The gateway runs as its own process here, configured by the environment as an operator would:
// the OTLP exporter loads node:http with a dynamic import(), which Jest's module sandbox refuses.
describe('tracing: each MCP request exported as an OpenTelemetry span when OTEL_EXPORTER_OTLP_ENDPOINT is set', () => {
  let upstream: RunningUpstream;
  let collector: Awaited<ReturnType<typeof startCollector>>;
  let gateway: SpawnedGateway;
  let dir: string;
  let base: string;

  beforeAll(async () => {
    upstream = await startUpstream();
    collector = await startCollector();
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-tracing-'));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const config = join(dir, 'config.yaml');
    writeFileSync(
      config,
      JSON.stringify({
        server: { host: '127.0.0.1', port, public_url: base, data_dir: join(dir, 'data') },
        rate_limit: { oauth_per_minute: 10_000, login_per_minute: 10_000 },
        upstreams: [{ slug: 'tools', url: upstream.url }],
      }),
    );
    gateway = spawnGateway(
      {
        GATEHOUSE_CONFIG: config,
        GATEHOUSE_ADMIN_EMAIL: ADMIN.email,
        GATEHOUSE_ADMIN_PASSWORD: ADMIN.password,
        OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
        OTEL_SERVICE_NAME: 'gatehouse-test',
        // Read by the OTLP exporter itself, as the OpenTelemetry spec has it (e.g. a hosted collector's key).
        OTEL_EXPORTER_OTLP_HEADERS: 'x-collector-key=k-123',
      },
      dir,
    );
    await gateway.waitFor('Gatehouse listening');
  });
  afterAll(async () => {
    await gateway?.stop();
    await collector?.close();
    await upstream?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("continues the client's trace: the span's parent is the client's, and the upstream's parent is the span", async () => {
    const { client, provider } = await connectWithOAuth(`${base}/mcp/tools`, ADMIN);
    await client.callTool({ name: 'echo', arguments: { text: 'traced' } });
    await client.close();
    const token = provider.tokens()!.access_token;
    const clientTrace = '4bf92f3577b34da6a3ce929d0e0e4736';
    const clientSpan = '00f067aa0ba902b7';
    const res = await mcpPost(`${base}/mcp/tools`, token, undefined, { traceparent: `00-${clientTrace}-${clientSpan}-01`, 'X-Test': 'otel-parent' });
    expect(res.status).toBe(200);
    // A clean stop flushes the spans still queued (tracing.module.ts).
    expect(await gateway.stop()).toBe(0);

    const span = collector.spans.find((s) => s.traceId === clientTrace);
    expect(span).toBeDefined();
    expect(span!.parentSpanId).toBe(clientSpan);
    expect(span!.kind).toBe(2); // SPAN_KIND_SERVER
    expect(span!.service).toBe('gatehouse-test');
    expect(attr(span!, 'gatehouse.upstream')).toBe('tools');
    expect(Number(attr(span!, 'http.response.status_code'))).toBe(200);

    const seen = upstream.seen.find((r) => r.headers['x-test'] === 'otel-parent')!;
    expect(seen.headers.traceparent).toBe(`00-${clientTrace}-${span!.spanId}-01`);

    // The SDK client's tool call: named after the method and tool, with who called.
    const call = collector.spans.find((s) => s.name === 'tools/call echo');
    expect(call).toBeDefined();
    expect(attr(call!, 'mcp.method.name')).toBe('tools/call');
    expect(attr(call!, 'gen_ai.tool.name')).toBe('echo');
    expect(attr(call!, 'enduser.id')).toEqual(expect.any(String));
    expect(call!.parentSpanId ?? '').toBe(''); // the SDK sent no traceparent: a new trace
    const callSeen = upstream.seen.filter((r) => String(r.headers.traceparent).includes(call!.traceId));
    expect(callSeen.map((r) => r.headers.traceparent)).toEqual([`00-${call!.traceId}-${call!.spanId}-01`]);

    // OTLP/HTTP JSON to <endpoint>/v1/traces, with the headers of OTEL_EXPORTER_OTLP_HEADERS.
    expect(collector.paths.length).toBeGreaterThan(0);
    for (const p of collector.paths) expect(p).toBe('POST /v1/traces application/json k-123');
    // Never a token in a span.
    expect(JSON.stringify(collector.spans)).not.toContain(token);
  });
});

describe('tracing: configuration', () => {
  it('OTEL_EXPORTER_OTLP_ENDPOINT and OTEL_SERVICE_NAME set tracing.otlp_endpoint and tracing.service_name', () => {
    const config = configFrom({}, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel-collector:4318', OTEL_SERVICE_NAME: 'team-gateway' });
    expect(config.tracing).toEqual({ otlp_endpoint: 'http://otel-collector:4318', service_name: 'team-gateway' });
    expect(configFrom({}).tracing.otlp_endpoint).toBeUndefined();
  });

  it.each([
    ['not a url', /tracing\.otlp_endpoint: must be an http\(s\) URL.*OTEL_EXPORTER_OTLP_ENDPOINT/],
    ['ftp://collector:21', /tracing\.otlp_endpoint: must be an http\(s\) URL/],
  ])('a bad OTEL_EXPORTER_OTLP_ENDPOINT (%s) is refused at start, naming the key', (value, message) => {
    expect(() => configFrom({}, { OTEL_EXPORTER_OTLP_ENDPOINT: value })).toThrow(message);
  });
});
