import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuditRecord } from '../audit/audit.service';
import type { LineLogger } from '../logging/app-logger';
import type { BodyCapture } from './mcp-method';
import { MetricsRecorder } from '../metrics/metrics-recorder';
import type { RequestTracing, RequestTrace } from '../tracing/request-tracing';

/** What the proxy learned of a request besides its audit row. */
export interface TelemetryContext {
  /** The tool of a tools/call (mcp-method.ts). */
  tool?: string | null;
  /** The body of a tools/call, for the digest of its arguments in the audit row (mcp-method.ts). */
  toolCall?: BodyCapture | null;
  /** The W3C trace id sent upstream (trace-context.ts). */
  traceId?: string | null;
  /** The request's OpenTelemetry span, when export is on. */
  span?: RequestTrace['span'];
  /** Set when the gateway itself answered an upstream failure (unreachable, timed out). */
  errorKind?: string;
}

/**
 * One access line at info, the Prometheus counts and (when export is on) the OpenTelemetry span for
 * each MCP request the proxy answers. The line carries who and what (upstream, MCP method, tool,
 * status, duration, user, client, trace id), never a token, header value or body. Runs once per
 * request: when info is off, no line object is built at all.
 */
export class McpTelemetry {
  constructor(
    private readonly access: LineLogger,
    private readonly metrics: MetricsRecorder,
    private readonly tracing: RequestTracing,
  ) {}

  /** Before any refusal of an authenticated request, so that each access line and span names its trace (the traceparent goes upstream too). */
  beginTrace(req: IncomingMessage, ctx: TelemetryContext, started: number): void {
    const begun = this.tracing.begin(req.headers, started);
    ctx.traceId = begun.traceId;
    ctx.span = begun.span;
  }

  /** An authenticated request, with the audit row recorded for it. */
  requestDone(req: IncomingMessage, record: AuditRecord, ctx: TelemetryContext, elapsedMs: number): void {
    const status = record.status ?? 0;
    const errorKind = record.outcome === 'success' ? null : record.type !== 'mcp.request' ? record.type : (ctx.errorKind ?? statusClass(status));
    this.metrics.mcpRequest(record.upstreamSlug!, status, elapsedMs / 1000, req.method, errorKind);
    if (ctx.span) {
      const mcpMethod = record.mcpMethod === req.method ? null : (record.mcpMethod ?? null);
      this.tracing.end(ctx.span, {
        upstream: record.upstreamSlug!,
        mcpMethod,
        tool: ctx.tool ?? null,
        status,
        userId: record.userId ?? null,
        clientId: record.clientId ?? null,
        errorKind,
        endedAt: performance.now(),
      });
    }
    if (!this.access.isLevelEnabled('info')) return;
    this.access.info(
      {
        upstream: record.upstreamSlug,
        http: req.method,
        // Bounded: without a method in the body, this is the client's Mcp-Method header, of any length.
        method: record.mcpMethod?.slice(0, 128),
        tool: ctx.tool ?? undefined,
        status,
        duration_ms: record.durationMs,
        user: record.userId,
        client: record.clientId,
        trace_id: ctx.traceId ?? undefined,
        error: errorKind ?? undefined,
        ip: record.ip ?? undefined,
      },
      'mcp request',
    );
  }

  /** A request the proxy refused before knowing who sent it (no or a bad token: 401). */
  unauthenticated(req: IncomingMessage, res: ServerResponse, upstream: string, started: number): void {
    const elapsedMs = performance.now() - started;
    this.metrics.mcpRequest(upstream, res.statusCode, elapsedMs / 1000, req.method, null);
    if (!this.access.isLevelEnabled('info')) return;
    this.access.info({ upstream, http: req.method, status: res.statusCode, duration_ms: Math.round(elapsedMs), ip: req.socket.remoteAddress ?? undefined }, 'mcp request');
  }
}

function statusClass(status: number): string {
  return status >= 500 ? 'status_5xx' : 'status_4xx';
}
