import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { IdentityModule } from '../identity/identity.module';
import { OAuthModule } from '../oauth/oauth.module';
import { UpstreamsModule } from '../upstreams/upstreams.module';
import { BundleCatalogue } from './bundle-catalogue';
import { BundleRecord } from './bundle-record.entity';
import { BundleSignInController } from './bundle-signin.controller';
import { BundlesService } from './bundles.service';
import { BundleEndpoint } from './bundle-endpoint';
import { UpstreamClientPool } from './upstream-clients';

/**
 * `/mcp` (and named bundles, `/mcp/b/{name}`): one connector for every upstream a member may use. A tool policy plugs in by providing
 * BUNDLE_TOOL_FILTER (bundle-tool-filter.ts) here; without one every tool passes.
 */
@Module({
  imports: [TypeOrmModule.forFeature([BundleRecord]), OAuthModule, UpstreamsModule, IdentityModule],
  controllers: [BundleSignInController],
  providers: [UpstreamClientPool, BundlesService, BundleCatalogue, BundleEndpoint],
  exports: [BundleEndpoint, BundleCatalogue, BundlesService],
})
export class BundleModule {}
