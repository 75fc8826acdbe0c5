import { Body, Controller, HttpCode, Post, Req, UseFilters, UseInterceptors } from '@nestjs/common';
import type { Request } from 'express';
import { AuditService } from '../../audit/audit.service';
import { NoStore } from '../../common/no-store';
import { OAuthClient } from '../client.entity';
import { ClientsService } from '../clients.service';
import { OAuthErrorFilter } from '../oauth-error.filter';
import { InvalidClient, OAuthError } from '../oauth.errors';
import { GrantTypes } from './grant-types';
import { TokenParams } from './token.checks';

const GRANT_TYPES = new Set(['authorization_code', 'refresh_token']);

/** OAuth 2.1 §3.2 token endpoint: client authentication, then the handler of the grant type (token.checks.ts holds their checks). */
@Controller()
@UseFilters(OAuthErrorFilter)
@UseInterceptors(NoStore)
export class TokenController {
  constructor(
    private readonly clients: ClientsService,
    private readonly grantTypes: GrantTypes,
    private readonly audit: AuditService,
  ) {}

  @Post('token')
  @HttpCode(200)
  async token(@Body() body: TokenParams, @Req() req: Request) {
    const params = body ?? {};
    let client: OAuthClient | null = null;
    try {
      client = await this.clients.authenticate({ authorization: req.headers.authorization, body: params });
      const response = await this.grantTypes.for(params.grant_type).handle(client, params, req.ip ?? null);
      void this.clients.touch(client.clientId);
      return response;
    } catch (err) {
      const clientId = client?.clientId ?? (err instanceof InvalidClient ? err.knownClientId : undefined);
      if (err instanceof OAuthError && clientId) await this.recordRefusal(clientId, params, err, req.ip ?? null);
      throw err;
    }
  }

  /**
   * RFC 6749 §5.2: the error answered, for the connection doctor: the code, its description, the
   * check that refused and the grant type. Never a parameter's value (a code or token is a secret).
   * Only for known clients, so that made-up client ids write nothing.
   */
  private recordRefusal(clientId: string, params: TokenParams, err: OAuthError, ip: string | null): Promise<void> {
    const grantType = typeof params.grant_type === 'string' && GRANT_TYPES.has(params.grant_type) ? params.grant_type : 'other';
    return this.audit.recordNow({
      type: 'token.refused',
      outcome: 'failure',
      clientId,
      userId: err.userId ?? null,
      ip,
      status: err.status,
      detail: { grant_type: grantType, error: err.error, reason: err.description, ...(err.check ? { check: err.check } : {}) },
    });
  }
}
