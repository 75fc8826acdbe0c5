import type { AuditRecord } from '../audit/audit.service';
import type { LoadedConfig } from '../config/config.loader';
import type { ActiveGrantsSource, UpstreamStatesSource } from './metrics-sources';

/**
 * What the gateway tells its metrics. Without metrics.token or metrics.listen nobody can read them,
 * so NoMetrics takes their place: prom-client is then never loaded (its registry and process
 * metrics cost about 2.5 MB of RSS) and a proxied request spends nothing on them.
 */
export abstract class MetricsRecorder {
  abstract readonly enabled: boolean;
  /** One finished MCP request; `errorKind` when it failed (see gatehouse_mcp_errors_total). */
  abstract mcpRequest(upstream: string, status: number, seconds: number, httpMethod: string | undefined, errorKind: string | null): void;
  /** An accepted audit row (AuditService.onEvent). */
  abstract auditEvent(event: AuditRecord): void;
  abstract addActiveGrants(source: ActiveGrantsSource): void;
  abstract addUpstreamStates(source: UpstreamStatesSource): void;
  abstract readonly contentType: string;
  /** The Prometheus text exposition. */
  abstract metrics(): Promise<string>;
}

export class NoMetrics extends MetricsRecorder {
  readonly enabled = false;
  readonly contentType = 'text/plain';
  mcpRequest(): void {}
  auditEvent(): void {}
  addActiveGrants(): void {}
  addUpstreamStates(): void {}
  metrics(): Promise<string> {
    return Promise.resolve('');
  }
}

export function metricsEnabled(config: LoadedConfig): boolean {
  return !!(config.metrics.token || config.metrics.listen);
}

/** GatewayMetrics when metrics can be read, else NoMetrics; prom-client is required only in the first case. */
export function createMetrics(config: LoadedConfig): MetricsRecorder {
  if (!metricsEnabled(config)) return new NoMetrics();
  // A require, not an import: loading prom-client is what this function decides.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { GatewayMetrics } = require('./gateway-metrics') as typeof import('./gateway-metrics');
  return new GatewayMetrics();
}
