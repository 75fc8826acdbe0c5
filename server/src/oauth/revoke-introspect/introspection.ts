import { ConfigService } from '../../config/config.service';
import { GrantsService } from '../grants/grants.service';

/**
 * RFC 7662 §2.2 response for a presented token: an access token or a refresh token that is live,
 * else `{ active: false }`. A client (clientId set) sees only its own tokens as active; an admin
 * (clientId null) sees any.
 */
export async function introspection(token: string, clientId: string | null, grants: GrantsService, config: ConfigService): Promise<Record<string, unknown>> {
  const inactive = { active: false };
  const access = await grants.findAccessToken(token);
  if (access) {
    if (clientId && access.clientId !== clientId) return inactive;
    return {
      active: true,
      token_type: 'Bearer',
      scope: access.scope,
      client_id: access.clientId,
      sub: access.userId,
      aud: config.resourceUrl(access.upstreamSlug),
      iss: config.issuer,
      exp: Math.floor(access.expiresAt / 1000),
    };
  }
  const { row: refresh, grant } = await grants.findRefreshToken(token);
  if (!refresh || !grant || grant.revokedAt || refresh.rotatedAt || refresh.expiresAt <= Date.now()) return inactive;
  if (clientId && grant.clientId !== clientId) return inactive;
  return {
    active: true,
    token_type: 'refresh_token',
    scope: grant.scope,
    client_id: grant.clientId,
    sub: grant.userId,
    aud: config.resourceUrl(grant.upstreamSlug),
    iss: config.issuer,
    exp: Math.floor(refresh.expiresAt / 1000),
  };
}
