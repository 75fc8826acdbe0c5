import { Body, Controller, HttpCode, Post, Req, UseFilters, UseInterceptors } from '@nestjs/common';
import type { Request } from 'express';
import { NoStore } from '../../common/no-store';
import { ClientsService } from '../clients.service';
import { OAuthErrorFilter } from '../oauth-error.filter';
import { GrantTypes } from './grant-types';
import { TokenParams } from './token.checks';

/** OAuth 2.1 §3.2 token endpoint: client authentication, then the handler of the grant type (token.checks.ts holds their checks). */
@Controller()
@UseFilters(OAuthErrorFilter)
@UseInterceptors(NoStore)
export class TokenController {
  constructor(
    private readonly clients: ClientsService,
    private readonly grantTypes: GrantTypes,
  ) {}

  @Post('token')
  @HttpCode(200)
  async token(@Body() body: TokenParams, @Req() req: Request) {
    const params = body ?? {};
    const client = await this.clients.authenticate({ authorization: req.headers.authorization, body: params });
    const response = await this.grantTypes.for(params.grant_type).handle(client, params, req.ip ?? null);
    void this.clients.touch(client.clientId);
    return response;
  }
}
