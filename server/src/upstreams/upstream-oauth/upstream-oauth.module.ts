import { Module } from '@nestjs/common';
import { IdentityModule } from '../../identity/identity.module';
import { PendingSignInsModule } from '../../pending-sign-ins/pending-sign-ins.module';
import { VaultModule } from '../../vault/vault.module';
import { UpstreamCallbackController } from './upstream-callback.controller';
import { UpstreamOAuthService } from './upstream-oauth.service';

/** Mode "oauth": the gateway as an OAuth client of upstream authorization servers, and its callback. */
@Module({
  imports: [IdentityModule, VaultModule, PendingSignInsModule],
  controllers: [UpstreamCallbackController],
  providers: [UpstreamOAuthService],
  exports: [UpstreamOAuthService],
})
export class UpstreamOAuthModule {}
