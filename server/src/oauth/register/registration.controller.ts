import { Body, Controller, HttpCode, Post, Req, UseFilters, UseInterceptors } from '@nestjs/common';
import type { Request } from 'express';
import { NoStore } from '../../common/no-store';
import { ClientsService } from '../clients.service';
import { OAuthErrorFilter } from '../oauth-error.filter';
import { parseRegistration } from './registration.checks';
import { ResourceHintsService } from '../resource-hints.service';
import { DiscoverySightings } from '../metadata/discovery-sightings';

/** RFC 7591 dynamic client registration. */
@Controller()
@UseFilters(OAuthErrorFilter)
@UseInterceptors(NoStore)
export class RegistrationController {
  constructor(
    private readonly clients: ClientsService,
    private readonly hints: ResourceHintsService,
    private readonly sightings: DiscoverySightings,
  ) {}

  @Post('register')
  @HttpCode(201)
  async register(@Body() body: unknown, @Req() req: Request) {
    const request = parseRegistration(body);
    const source = `${req.ip ?? '?'}|${String(req.headers['user-agent'] ?? '').slice(0, 200)}`;
    const { client, secret } = await this.clients.register(request, source, req.ip ?? null, this.discoveryDetail(req));
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

  /** For the audit row: the calling program, and which discovery documents it fetched first (see DiscoverySightings). */
  private discoveryDetail(req: Request): Record<string, unknown> {
    const userAgent = req.headers['user-agent'];
    const seen = this.sightings.of(req.ip, userAgent);
    return {
      user_agent: typeof userAgent === 'string' ? userAgent.slice(0, 200) : null,
      discovery: {
        authorization_server_metadata_at: seen?.authorizationServerMetadataAt ?? null,
        protected_resource_metadata_at: seen?.protectedResourceMetadataAt ?? null,
        upstream: seen?.upstream ?? null,
      },
    };
  }
}
