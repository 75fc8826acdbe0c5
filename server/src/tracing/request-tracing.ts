import type { IncomingHttpHeaders } from 'node:http';
import { defaultTextMapGetter, defaultTextMapSetter, ROOT_CONTEXT, Span, SpanKind, SpanStatusCode, trace, Tracer } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { ensureTraceparent } from './trace-context';

/** What the proxy knows of a request when it is done, for its span. */
export interface RequestOutcome {
  upstream: string;
  mcpMethod: string | null;
  tool: string | null;
  status: number;
  userId: string | null;
  clientId: string | null;
  /** Set when the request failed (a refusal by the gateway, an upstream error). */
  errorKind: string | null;
  endedAt: number;
}

export interface RequestTrace {
  /** The trace id, for the access line and the audit row. */
  traceId: string;
  /** The request's span when OpenTelemetry export is on, else null. */
  span: Span | null;
}

export interface TracingOptions {
  /** An OTLP/HTTP collector's base URL (spans go to `<endpoint>/v1/traces`); absent: no export. */
  otlpEndpoint?: string;
  serviceName: string;
  serviceVersion: string;
}

/**
 * Tracing of MCP requests. Without an OTLP endpoint it only makes sure each request carries a W3C
 * traceparent upstream (trace-context.ts), at no other cost. With one, each request becomes a SERVER
 * span (parent: the client's traceparent, if it sent one) exported in batches, and the traceparent
 * sent upstream names that span, so the upstream's spans are its children.
 *
 * The provider is this object's own, never registered as the global one: several gateways may run
 * in one process (the tests do), and the gateway traces nothing but its proxied requests.
 */
export class RequestTracing {
  private readonly provider: TracerProvider | null;
  private readonly tracer: Tracer | null;
  private readonly propagator = new W3CTraceContextPropagator();

  constructor(options: TracingOptions) {
    if (!options.otlpEndpoint) {
      this.provider = null;
      this.tracer = null;
      return;
    }
    // OTEL_EXPORTER_OTLP_HEADERS (e.g. a collector's API key) and _TIMEOUT are read by the exporter itself.
    const exporter = new OTLPTraceExporter({ url: `${options.otlpEndpoint.replace(/\/+$/, '')}/v1/traces` });
    this.provider = new TracerProvider({
      resource: resourceFromAttributes({ 'service.name': options.serviceName, 'service.version': options.serviceVersion }),
      // Bounded: at most 2048 spans wait for the collector; beyond that new ones are dropped, never the requests.
      spanProcessors: [new BatchSpanProcessor({ exporter, maxQueueSize: 2048, maxExportBatchSize: 512, scheduledDelayMillis: 2000 })],
    });
    this.tracer = this.provider.getTracer('gatehouse', options.serviceVersion);
  }

  get enabled(): boolean {
    return this.tracer !== null;
  }

  /** At the start of an authenticated request: its trace, with the traceparent set in `headers` (sent upstream). */
  begin(headers: IncomingHttpHeaders, startedAt: number): RequestTrace {
    if (!this.tracer) return { traceId: ensureTraceparent(headers), span: null };
    // An invalid traceparent extracts to no parent (W3C Trace Context §3.2): the span starts a new trace.
    const parent = this.propagator.extract(ROOT_CONTEXT, headers, defaultTextMapGetter);
    const span = this.tracer.startSpan('mcp', { kind: SpanKind.SERVER, startTime: startedAt }, parent);
    const carrier: Record<string, string> = {};
    this.propagator.inject(trace.setSpan(parent, span), carrier, defaultTextMapSetter);
    headers.traceparent = carrier.traceparent;
    if (carrier.tracestate) headers.tracestate = carrier.tracestate;
    else delete headers.tracestate;
    return { traceId: span.spanContext().traceId, span };
  }

  /** Ends a request's span with what the proxy learned (names as in OpenTelemetry's MCP and HTTP conventions). */
  end(span: Span, outcome: RequestOutcome): void {
    const method = outcome.mcpMethod?.slice(0, 128) ?? null;
    span.updateName(method ? (outcome.tool ? `${method} ${outcome.tool.slice(0, 128)}` : method) : 'mcp');
    span.setAttribute('gatehouse.upstream', outcome.upstream);
    span.setAttribute('http.response.status_code', outcome.status);
    if (method) span.setAttribute('mcp.method.name', method);
    if (outcome.tool) span.setAttribute('gen_ai.tool.name', outcome.tool.slice(0, 128));
    // Ids only, never an email, token or body.
    if (outcome.userId) span.setAttribute('enduser.id', outcome.userId);
    if (outcome.clientId) span.setAttribute('gatehouse.client_id', outcome.clientId.slice(0, 256));
    if (outcome.errorKind) {
      span.setAttribute('error.type', outcome.errorKind);
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
    span.end(outcome.endedAt);
  }

  /** Sends what is queued and stops (at gateway shutdown). */
  async shutdown(): Promise<void> {
    await this.provider?.shutdown().catch(() => undefined);
  }
}
