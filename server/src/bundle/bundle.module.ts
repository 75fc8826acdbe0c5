import { Module } from '@nestjs/common';
import { IdentityModule } from '../identity/identity.module';
import { OAuthModule } from '../oauth/oauth.module';
import { UpstreamsModule } from '../upstreams/upstreams.module';
import { BundleCatalogue } from './bundle-catalogue';
import { BundleEndpoint } from './bundle-endpoint';
import { UpstreamClientPool } from './upstream-clients';

/**
 * `/mcp`: one connector for every upstream a member may use. A tool policy plugs in by providing
 * BUNDLE_TOOL_FILTER (bundle-tool-filter.ts) here; without one every tool passes.
 */
@Module({
  imports: [OAuthModule, UpstreamsModule, IdentityModule],
  providers: [UpstreamClientPool, BundleCatalogue, BundleEndpoint],
  exports: [BundleEndpoint, BundleCatalogue],
})
export class BundleModule {}
