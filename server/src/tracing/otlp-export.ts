import type { IncomingHttpHeaders } from 'node:http';
import { defaultTextMapGetter, defaultTextMapSetter, ROOT_CONTEXT, Span, SpanKind, SpanStatusCode, trace, Tracer } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import type { RequestOutcome, RequestTrace, TracingOptions } from './request-tracing';

/**
 * OpenTelemetry export of MCP requests (loaded by request-tracing.ts only when an OTLP endpoint is
 * set). The provider is this object's own, never registered as the global one: several gateways may
 * run in one process (the tests do), and the gateway traces nothing but its proxied requests.
 */
export class OtlpExport {
  private readonly provider: TracerProvider;
  private readonly tracer: Tracer;
  private readonly propagator = new W3CTraceContextPropagator();

  constructor(options: TracingOptions & { otlpEndpoint: string }) {
    // OTEL_EXPORTER_OTLP_HEADERS (e.g. a collector's API key) and _TIMEOUT are read by the exporter itself.
    const exporter = new OTLPTraceExporter({ url: `${options.otlpEndpoint.replace(/\/+$/, '')}/v1/traces` });
    this.provider = new TracerProvider({
      resource: resourceFromAttributes({ 'service.name': options.serviceName, 'service.version': options.serviceVersion }),
      // Bounded: at most 2048 spans wait for the collector; beyond that new ones are dropped, never the requests.
      spanProcessors: [new BatchSpanProcessor({ exporter, maxQueueSize: 2048, maxExportBatchSize: 512, scheduledDelayMillis: 2000 })],
    });
    this.tracer = this.provider.getTracer('gatehouse', options.serviceVersion);
  }

  begin(headers: IncomingHttpHeaders, startedAt: number): RequestTrace {
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

  async shutdown(): Promise<void> {
    await this.provider.shutdown().catch(() => undefined);
  }
}
