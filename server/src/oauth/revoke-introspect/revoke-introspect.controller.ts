import { Body, Controller, HttpCode, Post, Req, UseFilters, UseGuards, UseInterceptors } from '@nestjs/common';
import type { Request } from 'express';
import { NoStore } from '../../common/no-store';
import { ConfigService } from '../../config/config.service';
import { CurrentUser } from '../../identity/current-user';
import { hasRole } from '../../identity/roles';
import { OptionalSession, SessionGuard } from '../../identity/session.guard';
import { User } from '../../identity/user.entity';
import { ClientsService } from '../clients.service';
import { GrantsService } from '../grants/grants.service';
import { OAuthErrorFilter } from '../oauth-error.filter';
import { InvalidClient, InvalidRequest } from '../oauth.errors';
import { introspection } from './introspection';

type Params = Record<string, unknown>;

/** RFC 7009 revocation and RFC 7662 introspection: both answer about one presented token. */
@Controller()
@UseFilters(OAuthErrorFilter)
@UseInterceptors(NoStore)
export class RevokeIntrospectController {
  constructor(
    private readonly clients: ClientsService,
    private readonly grants: GrantsService,
    private readonly config: ConfigService,
  ) {}

  /** RFC 7009 §2: always 200 for a well-formed request, whether or not the token was known. */
  @Post('revoke')
  @HttpCode(200)
  async revoke(@Body() body: Params, @Req() req: Request) {
    const params = body ?? {};
    const client = await this.clients.authenticate({ authorization: req.headers.authorization, body: params });
    if (typeof params.token !== 'string' || !params.token) throw new InvalidRequest('token is required');
    await this.grants.revokeToken(params.token, client.clientId, req.ip ?? null);
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
    return introspection(params.token, client?.clientId ?? null, this.grants, this.config);
  }
}
