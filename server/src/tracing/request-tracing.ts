import type { IncomingHttpHeaders } from 'node:http';
import type { Span } from '@opentelemetry/api';
import type { OtlpExport } from './otlp-export';
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
 * traceparent upstream (trace-context.ts), at no other cost: OpenTelemetry is not even loaded (its
 * packages weigh about 15 MB of memory). With one, each request becomes a SERVER span (parent: the
 * client's traceparent, if it sent one) exported in batches, and the traceparent sent upstream
 * names that span, so the upstream's spans are its children (otlp-export.ts).
 */
export class RequestTracing {
  private readonly otel: OtlpExport | null;

  constructor(options: TracingOptions) {
    if (!options.otlpEndpoint) {
      this.otel = null;
      return;
    }
    // Loaded only when export is on (see above); a static import would load it for everyone.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { OtlpExport: Export } = require('./otlp-export') as typeof import('./otlp-export');
    this.otel = new Export({ ...options, otlpEndpoint: options.otlpEndpoint });
  }

  get enabled(): boolean {
    return this.otel !== null;
  }

  /** At the start of an authenticated request: its trace, with the traceparent set in `headers` (sent upstream). */
  begin(headers: IncomingHttpHeaders, startedAt: number): RequestTrace {
    if (!this.otel) return { traceId: ensureTraceparent(headers), span: null };
    return this.otel.begin(headers, startedAt);
  }

  /** Ends a request's span with what the proxy learned. */
  end(span: Span, outcome: RequestOutcome): void {
    this.otel?.end(span, outcome);
  }

  /** Sends what is queued and stops (at gateway shutdown). */
  async shutdown(): Promise<void> {
    await this.otel?.shutdown();
  }
}
