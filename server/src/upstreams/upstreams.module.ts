import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { IdentityModule } from '../identity/identity.module';
import { VaultModule } from '../vault/vault.module';
import { AccessPolicyService } from './access-policy.service';
import { AuthModesModule } from './auth-modes/auth-modes.module';
import { UpstreamCredentialsService } from './upstream-credentials.service';
import { UpstreamOAuthModule } from './upstream-oauth/upstream-oauth.module';
import { UpstreamAdminService } from './upstream-admin.service';
import { UpstreamCheck } from './upstream-check.entity';
import { UpstreamProbeService } from './upstream-probe.service';
import { UpstreamRecord } from './upstream-record.entity';
import { UpstreamsService } from './upstreams.service';
import { ProcessLauncher } from './transports/process-launcher';
import { SpawnedUpstreamsService } from './transports/spawned-upstreams.service';
import { StdioBridgeService } from './transports/stdio-bridge.service';

@Module({
  imports: [TypeOrmModule.forFeature([UpstreamRecord, UpstreamCheck]), VaultModule, IdentityModule, UpstreamOAuthModule, AuthModesModule],
  providers: [
    UpstreamsService,
    UpstreamCredentialsService,
    AccessPolicyService,
    UpstreamAdminService,
    UpstreamProbeService,
    ProcessLauncher,
    StdioBridgeService,
    SpawnedUpstreamsService,
  ],
  exports: [
    UpstreamsService,
    UpstreamCredentialsService,
    AccessPolicyService,
    UpstreamAdminService,
    UpstreamProbeService,
    UpstreamOAuthModule,
    AuthModesModule,
    StdioBridgeService,
    SpawnedUpstreamsService,
  ],
})
export class UpstreamsModule {}
