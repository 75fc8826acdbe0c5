import { Module } from '@nestjs/common';
import { UpstreamsModule } from '../upstreams/upstreams.module';
import { VaultModule } from '../vault/vault.module';
import { HealthController } from './health.controller';
import { ReadinessService } from './readiness.service';

/** GET /healthz (liveness) and /readyz (readiness). */
@Module({
  imports: [VaultModule, UpstreamsModule],
  controllers: [HealthController],
  providers: [ReadinessService],
})
export class HealthModule {}
