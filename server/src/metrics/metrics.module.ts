import type { Server } from 'node:http';
import { Global, Injectable, Module, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { AuditService } from '../audit/audit.service';
import { ConfigService } from '../config/config.service';
import { AppLogger } from '../logging/app-logger';
import { listenerAddress, startMetricsListener } from './metrics-listener';
import { createMetrics, MetricsRecorder } from './metrics-recorder';
import { ACTIVE_GRANTS_SOURCE, ActiveGrantsSource, UPSTREAM_STATES_SOURCE, UpstreamStatesSource } from './metrics-sources';
import { MetricsController } from './metrics.controller';

/** Feeds the metrics what other modules know (audit events, optional sources) and runs metrics.listen. */
@Injectable()
class MetricsWiring implements OnApplicationBootstrap, OnApplicationShutdown {
  private listener: Server | null = null;

  constructor(
    private readonly metrics: MetricsRecorder,
    private readonly audit: AuditService,
    private readonly config: ConfigService,
    private readonly logger: AppLogger,
    private readonly moduleRef: ModuleRef,
  ) {
    if (metrics.enabled) audit.onEvent((event) => metrics.auditEvent(event));
  }

  async onApplicationBootstrap(): Promise<void> {
    if (!this.metrics.enabled) return;
    const grants = this.optional<ActiveGrantsSource>(ACTIVE_GRANTS_SOURCE);
    if (grants) this.metrics.addActiveGrants(grants);
    const upstreams = this.optional<UpstreamStatesSource>(UPSTREAM_STATES_SOURCE);
    if (upstreams) this.metrics.addUpstreamStates(upstreams);
    const listen = this.config.metrics.listen;
    if (listen) {
      this.listener = await startMetricsListener(listen, this.metrics);
      this.logger.log(`metrics served without a token at http://${listenerAddress(this.listener)}/metrics`, 'Metrics');
    }
  }

  async onApplicationShutdown(): Promise<void> {
    const listener = this.listener;
    this.listener = null;
    if (!listener) return;
    listener.closeAllConnections();
    await new Promise<void>((resolve) => listener.close(() => resolve()));
  }

  /** A provider of another module, if one exists (see metrics-sources.ts). */
  private optional<T>(token: symbol): T | null {
    try {
      return this.moduleRef.get<T>(token, { strict: false });
    } catch {
      return null;
    }
  }
}

/** Prometheus metrics: GET /metrics with metrics.token, or on metrics.listen (loopback). */
@Global()
@Module({
  controllers: [MetricsController],
  providers: [{ provide: MetricsRecorder, inject: [ConfigService], useFactory: (config: ConfigService) => createMetrics(config.loaded) }, MetricsWiring],
  exports: [MetricsRecorder],
})
export class MetricsModule {}
