import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { IdentityModule } from '../identity/identity.module';
import { OAuthModule } from '../oauth/oauth.module';
import { ToolPolicyModule } from '../tool-policy/tool-policy.module';
import { RateLimitModule } from '../rate-limit/rate-limit.module';
import { UpstreamsModule } from '../upstreams/upstreams.module';
import { VaultModule } from '../vault/vault.module';
import { BundleCatalogue } from './bundle-catalogue';
import { BundleRecord } from './bundle-record.entity';
import { BundleSignInController } from './bundle-signin.controller';
import { BundlesService } from './bundles.service';
import { BundleEndpoint } from './bundle-endpoint';
import { BundleRelay } from './bundle-relay';
import { BUNDLE_TOOL_FILTER } from './bundle-tool-filter';
import { ToolPolicyBundleFilter } from './tool-policy-filter';
import { UpstreamClientPool } from './upstream-clients';

/**
 * `/mcp` (and named bundles, `/mcp/b/{name}`): one connector for every upstream a member may use,
 * under the same per-tool policy and pinning as `/mcp/{slug}` (BUNDLE_TOOL_FILTER, tool-policy-filter.ts).
 */
@Module({
  imports: [TypeOrmModule.forFeature([BundleRecord]), OAuthModule, UpstreamsModule, IdentityModule, ToolPolicyModule, VaultModule, RateLimitModule],
  controllers: [BundleSignInController],
  providers: [UpstreamClientPool, BundlesService, BundleCatalogue, BundleEndpoint, BundleRelay, { provide: BUNDLE_TOOL_FILTER, useClass: ToolPolicyBundleFilter }],
  exports: [BundleEndpoint, BundleCatalogue, BundlesService],
})
export class BundleModule {}
