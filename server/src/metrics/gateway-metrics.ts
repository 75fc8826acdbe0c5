import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { AuditRecord } from '../audit/audit.service';
import { ActiveGrantsSource, UpstreamStatesSource } from './metrics-sources';
import { MetricsRecorder } from './metrics-recorder';

/**
 * Latency buckets in seconds, for MCP requests: from a cached tools/list (a few ms) to a long
 * tool call (the default upstream timeout is 300 s).
 */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

/**
 * The gateway's Prometheus metrics, in a registry of its own (not prom-client's global one), so
 * several gateways in one process (tests) keep separate counts. The proxy calls mcpRequest() once
 * per request: the labelled children are looked up in nested maps, so a request allocates nothing
 * here (prom-client's labels() would build a label object every time).
 */
export class GatewayMetrics extends MetricsRecorder {
  readonly enabled = true;
  readonly registry = new Registry();

  private readonly requests = new Counter({
    name: 'gatehouse_mcp_requests_total',
    help: 'MCP requests the proxy answered, by upstream and HTTP status (the refused ones included)',
    labelNames: ['upstream', 'status'] as const,
    registers: [this.registry],
  });
  private readonly durations = new Histogram({
    name: 'gatehouse_mcp_request_duration_seconds',
    help: 'Time from an MCP request to the end of its response, by upstream (GET event streams, open for as long as the client listens, are left out)',
    labelNames: ['upstream'] as const,
    buckets: DURATION_BUCKETS,
    registers: [this.registry],
  });
  private readonly errors = new Counter({
    name: 'gatehouse_mcp_errors_total',
    help: 'MCP requests that failed, by upstream and kind: the audit event of a refusal (rate.limit, scope.deny, ...) or failure (upstream.timeout, ...), or the status class (status_4xx, status_5xx)',
    labelNames: ['upstream', 'kind'] as const,
    registers: [this.registry],
  });
  private readonly tokensIssued = new Counter({
    name: 'gatehouse_tokens_issued_total',
    help: 'Token pairs issued for an authorization code (new grants)',
    registers: [this.registry],
  });
  private readonly tokensRefreshed = new Counter({
    name: 'gatehouse_tokens_refreshed_total',
    help: 'Token pairs issued for a refresh token',
    registers: [this.registry],
  });
  private readonly signinFailures = new Counter({
    name: 'gatehouse_signin_failures_total',
    help: 'Failed sign-ins to the gateway (wrong email or password)',
    registers: [this.registry],
  });

  private readonly requestChildren = new Map<string, Map<number, Counter.Internal>>();
  private readonly durationChildren = new Map<string, Histogram.Internal<'upstream'>>();
  private readonly errorChildren = new Map<string, Map<string, Counter.Internal>>();

  constructor() {
    super();
    collectDefaultMetrics({ register: this.registry });
  }

  /** One finished MCP request; `kind` when it failed (see gatehouse_mcp_errors_total). */
  mcpRequest(upstream: string, status: number, seconds: number, httpMethod: string | undefined, errorKind: string | null): void {
    let byStatus = this.requestChildren.get(upstream);
    if (!byStatus) this.requestChildren.set(upstream, (byStatus = new Map<number, Counter.Internal>()));
    let counter = byStatus.get(status);
    if (!counter) byStatus.set(status, (counter = this.requests.labels(upstream, String(status))));
    counter.inc();
    if (httpMethod !== 'GET') {
      let histogram = this.durationChildren.get(upstream);
      if (!histogram) this.durationChildren.set(upstream, (histogram = this.durations.labels(upstream)));
      histogram.observe(seconds);
    }
    if (errorKind) this.mcpError(upstream, errorKind);
  }

  private mcpError(upstream: string, kind: string): void {
    let byKind = this.errorChildren.get(upstream);
    if (!byKind) this.errorChildren.set(upstream, (byKind = new Map<string, Counter.Internal>()));
    let counter = byKind.get(kind);
    if (!counter) byKind.set(kind, (counter = this.errors.labels(upstream, kind)));
    counter.inc();
  }

  /** Counts the security events metrics are kept for, as the audit log records them. */
  auditEvent(event: AuditRecord): void {
    if (event.outcome === 'success' && event.type === 'token.issue') this.tokensIssued.inc();
    else if (event.outcome === 'success' && event.type === 'token.refresh') this.tokensRefreshed.inc();
    else if (event.outcome === 'failure' && event.type === 'login') this.signinFailures.inc();
  }

  /** gatehouse_active_grants, read from source at every scrape. */
  addActiveGrants(source: ActiveGrantsSource): void {
    new Gauge({
      name: 'gatehouse_active_grants',
      help: 'Grants (authorizations of a client by a user for an upstream) not revoked',
      registers: [this.registry],
      async collect() {
        try {
          this.set(await source());
        } catch {
          // Keeps the last value rather than failing the whole scrape; the source logs its own errors.
        }
      },
    });
  }

  /** gatehouse_upstream_up, read from source at every scrape. */
  addUpstreamStates(source: UpstreamStatesSource): void {
    new Gauge({
      name: 'gatehouse_upstream_up',
      help: 'Whether the last reachability probe of an upstream got an answer (1) or not (0)',
      labelNames: ['upstream'] as const,
      registers: [this.registry],
      async collect() {
        // Upstreams removed since the last scrape disappear instead of keeping their last value;
        // a failing source leaves no series rather than failing the whole scrape.
        this.reset();
        try {
          for (const s of await source()) this.set({ upstream: s.slug }, s.reachable ? 1 : 0);
        } catch {
          // The source logs its own errors.
        }
      },
    });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  metrics(): Promise<string> {
    return this.registry.metrics();
  }
}
