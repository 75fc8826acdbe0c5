import { Module } from '@nestjs/common';
import { OAuthModule } from '../oauth/oauth.module';
import { ToolPolicyModule } from '../tool-policy/tool-policy.module';
import { RateLimitModule } from '../rate-limit/rate-limit.module';
import { UpstreamsModule } from '../upstreams/upstreams.module';
import { McpProxyService } from './mcp-proxy.service';

@Module({
  imports: [OAuthModule, UpstreamsModule, RateLimitModule, ToolPolicyModule],
  providers: [McpProxyService],
  exports: [McpProxyService],
})
export class ProxyModule {}
