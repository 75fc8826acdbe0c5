import { Body, Controller, HttpCode, Post, Req, UseFilters, UseGuards, UseInterceptors } from '@nestjs/common';
import type { Request } from 'express';
import { NoStore } from '../common/no-store';
import { CurrentUser } from '../identity/current-user';
import { hasRole } from '../identity/roles';
import { OptionalSession, SessionGuard } from '../identity/session.guard';
import { User } from '../identity/user.entity';
import { ClientsService } from './clients.service';
import { OAuthErrorFilter } from './oauth-error.filter';
import { InvalidClient, InvalidRequest, UnsupportedGrantType } from './oauth.errors';
import { TokensService } from './tokens.service';

type Params = Record<string, unknown>;

@Controller()
@UseFilters(OAuthErrorFilter)
@UseInterceptors(NoStore)
export class TokenController {
  constructor(
    private readonly clients: ClientsService,
    private readonly tokens: TokensService,
  ) {}

  /** OAuth 2.1 §3.2 token endpoint. */
  @Post('token')
  @HttpCode(200)
  async token(@Body() body: Params, @Req() req: Request) {
    const params = body ?? {};
    const client = await this.clients.authenticate({ authorization: req.headers.authorization, body: params });
    const ip = req.ip ?? null;
    let response;
    switch (params.grant_type) {
      case 'authorization_code':
        response = await this.tokens.exchangeCode(client, params, ip);
        break;
      case 'refresh_token':
        response = await this.tokens.refresh(client, params, ip);
        break;
      case undefined:
        throw new InvalidRequest('grant_type is required');
      default:
        throw new UnsupportedGrantType('only authorization_code and refresh_token are supported');
    }
    void this.clients.touch(client.clientId);
    return response;
  }

  /** RFC 7009 §2: always 200 for a well-formed request, whether or not the token was known. */
  @Post('revoke')
  @HttpCode(200)
  async revoke(@Body() body: Params, @Req() req: Request) {
    const params = body ?? {};
    const client = await this.clients.authenticate({ authorization: req.headers.authorization, body: params });
    if (typeof params.token !== 'string' || !params.token) throw new InvalidRequest('token is required');
    await this.tokens.revoke(client, params.token, req.ip ?? null);
    return {};
  }

  /** RFC 7662 §2.1: needs a confidential client's credentials or a signed-in admin. */
  @Post('introspect')
  @HttpCode(200)
  @UseGuards(SessionGuard)
  @OptionalSession()
  async introspect(@Body() body: Params, @Req() req: Request, @CurrentUser() user: User | null) {
    const params = body ?? {};
    let client = null;
    if (!hasRole(user, 'admin')) {
      client = await this.clients.authenticate({ authorization: req.headers.authorization, body: params });
      if (client.tokenEndpointAuthMethod === 'none') {
        throw new InvalidClient('introspection requires a confidential client or an admin session');
      }
    }
    if (typeof params.token !== 'string' || !params.token) throw new InvalidRequest('token is required');
    return this.tokens.introspect(params.token, client);
  }
}
