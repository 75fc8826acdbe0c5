import { Injectable } from '@nestjs/common';
import { UpstreamsService } from '../../upstreams/upstreams.service';
import { OAuthClient } from '../client.entity';
import { GrantsService } from '../grants/grants.service';
import { TokenResponse } from '../grants/token-pairs';
import { InvalidGrant, OAuthError } from '../oauth.errors';
import { checkContext, GrantTypeHandler } from './grant-type';
import { AUTHORIZATION_CODE_CHECKS, CodeReplayed, CodeRequest, runChecks, TokenParams } from './token.checks';

/** OAuth 2.1 §4.1.3: a code for a new grant and its first token pair. */
@Injectable()
export class AuthorizationCodeGrant implements GrantTypeHandler {
  constructor(
    private readonly grants: GrantsService,
    private readonly upstreams: UpstreamsService,
  ) {}

  async handle(client: OAuthClient, params: TokenParams, ip: string | null): Promise<TokenResponse> {
    const code = typeof params.code === 'string' && params.code ? await this.grants.findCode(params.code) : null;
    const request: CodeRequest = { client, params, code };
    try {
      runChecks(AUTHORIZATION_CODE_CHECKS, request, checkContext(this.upstreams));
    } catch (err) {
      if (err instanceof OAuthError && code && code.clientId === client.clientId) err.userId ??= code.userId;
      if (err instanceof CodeReplayed) await this.grants.codeReplayed(err.code, ip);
      throw err;
    }
    const tokens = await this.grants.exchangeCode(code!, ip);
    if (tokens) return tokens;
    // A concurrent exchange of the same code claimed it first: this one is the replay.
    await this.grants.codeReplayed(code!, ip);
    throw new InvalidGrant('authorization code was already used');
  }
}
