import { UpstreamsService } from '../../upstreams/upstreams.service';
import { OAuthClient } from '../client.entity';
import { TokenResponse } from '../grants/token-pairs';
import { TokenCheckContext, TokenParams } from './token.checks';

/** One grant type of the token endpoint (OAuth 2.1 §3.2): runs its checks, then asks the grants store for tokens. */
export interface GrantTypeHandler {
  handle(client: OAuthClient, params: TokenParams, ip: string | null): Promise<TokenResponse>;
}

/** The check context at this moment: the clock, and the upstream registry for RFC 8707 resources. */
export function checkContext(upstreams: Pick<UpstreamsService, 'byResource'>): TokenCheckContext {
  return { now: Date.now(), upstreamSlugOf: (resource) => upstreams.byResource(resource)?.slug };
}
