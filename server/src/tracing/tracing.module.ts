import { Global, Injectable, Module, OnApplicationShutdown } from '@nestjs/common';
import { gatewayVersion } from '../common/version';
import { ConfigService } from '../config/config.service';
import { RequestTracing } from './request-tracing';

/** Flushes the spans still queued when the gateway stops. */
@Injectable()
class TracingShutdown implements OnApplicationShutdown {
  constructor(private readonly tracing: RequestTracing) {}

  async onApplicationShutdown(): Promise<void> {
    await this.tracing.shutdown();
  }
}

/** OpenTelemetry export of MCP requests when tracing.otlp_endpoint (OTEL_EXPORTER_OTLP_ENDPOINT) is set. */
@Global()
@Module({
  providers: [
    {
      provide: RequestTracing,
      inject: [ConfigService],
      useFactory: (config: ConfigService) =>
        new RequestTracing({ otlpEndpoint: config.tracing.otlp_endpoint || undefined, serviceName: config.tracing.service_name, serviceVersion: gatewayVersion() }),
    },
    TracingShutdown,
  ],
  exports: [RequestTracing],
})
export class TracingModule {}
