import { Injectable } from '@nestjs/common';
import { UpstreamsService } from '../../upstreams/upstreams.service';
import { OAuthClient } from '../client.entity';
import { GrantsService } from '../grants/grants.service';
import { TokenResponse } from '../grants/token-pairs';
import { OAuthError } from '../oauth.errors';
import { checkContext, GrantTypeHandler } from './grant-type';
import { narrowScope, REFRESH_TOKEN_CHECKS, RefreshRequest, runChecks, TokenParams } from './token.checks';

/** OAuth 2.1 §4.3: a refresh token for a new pair, rotating the refresh token on every use. */
@Injectable()
export class RefreshTokenGrant implements GrantTypeHandler {
  constructor(
    private readonly grants: GrantsService,
    private readonly upstreams: UpstreamsService,
  ) {}

  async handle(client: OAuthClient, params: TokenParams, ip: string | null): Promise<TokenResponse> {
    const presented = typeof params.refresh_token === 'string' && params.refresh_token ? params.refresh_token : null;
    const { row, grant } = presented ? await this.grants.findRefreshToken(presented) : { row: null, grant: null };
    const request: RefreshRequest = { client, params, token: row, grant };
    try {
      runChecks(REFRESH_TOKEN_CHECKS, request, checkContext(this.upstreams));
      return await this.grants.rotateRefreshToken(presented!, row!, grant!, narrowScope(params.scope, grant!.scope), ip);
    } catch (err) {
      if (err instanceof OAuthError && grant && grant.clientId === client.clientId) err.userId ??= grant.userId;
      throw err;
    }
  }
}
