import { DynamicModule, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { ThrottlerGuard, ThrottlerModule } from '@nestjs/throttler';
import { AdminModule } from './admin/admin.module';
import { isAdminApi } from './admin/admin-api.marker';
import { adminThrottler } from './admin/admin-throttler';
import { AuditModule } from './audit/audit.module';
import { BundleModule } from './bundle/bundle.module';
import { LoadedConfig } from './config/config.loader';
import { ConfigModule } from './config/config.module';
import { DatabaseModule } from './database/database.module';
import { HealthModule } from './health/health.module';
import { IdentityModule } from './identity/identity.module';
import { LoggingModule } from './logging/logging.module';
import { MetricsModule } from './metrics/metrics.module';
import { TracingModule } from './tracing/tracing.module';
import { OAuthModule } from './oauth/oauth.module';
import { PagesModule } from './pages/pages.module';
import { RateLimitModule } from './rate-limit/rate-limit.module';
import { SharedCounters } from './rate-limit/shared-counters.service';
import { SharedThrottlerStorage, throttlerKey } from './rate-limit/shared-throttler-storage';
import { ProxyModule } from './proxy/proxy.module';
import { ToolPolicyModule } from './tool-policy/tool-policy.module';
import { UpstreamsModule } from './upstreams/upstreams.module';
import { VaultModule } from './vault/vault.module';

@Module({})
export class AppModule {
  static register(config: LoadedConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.register(config),
        LoggingModule,
        ThrottlerModule.forRootAsync({
          imports: [RateLimitModule],
          inject: [SharedCounters],
          useFactory: (counters: SharedCounters) => ({
            // Counted per client IP and per route; password guessing gets the tighter limit, counted
            // across replicas on PostgreSQL (SharedThrottlerStorage). The admin API has its own limit
            // and is counted by it alone.
            throttlers: [
              {
                name: 'default',
                ttl: 60_000,
                limit: (ctx) => (ctx.getHandler().name === 'login' ? config.rate_limit.login_per_minute : config.rate_limit.oauth_per_minute),
                skipIf: isAdminApi,
                generateKey: throttlerKey,
              },
              adminThrottler(config.rate_limit.admin_per_minute),
            ],
            errorMessage: 'rate limit exceeded',
            storage: new SharedThrottlerStorage(counters),
          }),
        }),
        PagesModule,
        DatabaseModule,
        AuditModule,
        VaultModule,
        IdentityModule,
        UpstreamsModule,
        ToolPolicyModule,
        OAuthModule,
        ProxyModule,
        BundleModule,
        AdminModule,
        MetricsModule,
        TracingModule,
        HealthModule,
      ],
      providers: [{ provide: APP_GUARD, useClass: ThrottlerGuard }],
    };
  }
}
