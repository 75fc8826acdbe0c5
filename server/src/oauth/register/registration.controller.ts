import { Body, Controller, HttpCode, Post, Req, UseFilters, UseInterceptors } from '@nestjs/common';
import type { Request } from 'express';
import { NoStore } from '../../common/no-store';
import { ClientsService } from '../clients.service';
import { OAuthErrorFilter } from '../oauth-error.filter';
import { parseRegistration } from './registration.checks';
import { ResourceHintsService } from '../resource-hints.service';

/** RFC 7591 dynamic client registration. */
@Controller()
@UseFilters(OAuthErrorFilter)
@UseInterceptors(NoStore)
export class RegistrationController {
  constructor(
    private readonly clients: ClientsService,
    private readonly hints: ResourceHintsService,
  ) {}

  @Post('register')
  @HttpCode(201)
  async register(@Body() body: unknown, @Req() req: Request) {
    const request = parseRegistration(body);
    const source = `${req.ip ?? '?'}|${String(req.headers['user-agent'] ?? '').slice(0, 200)}`;
    const { client, secret } = await this.clients.register(request, source, req.ip ?? null);
    this.hints.clientRegistered(req.ip, client.clientId);
    return {
      client_id: client.clientId,
      client_id_issued_at: Math.floor(client.createdAt / 1000),
      ...(secret ? { client_secret: secret, client_secret_expires_at: 0 } : {}),
      client_name: client.clientName ?? undefined,
      redirect_uris: client.redirectUris,
      token_endpoint_auth_method: client.tokenEndpointAuthMethod,
      grant_types: client.grantTypes,
      response_types: client.responseTypes,
      scope: client.scope ?? undefined,
      ...client.extraMetadata,
    };
  }
}
