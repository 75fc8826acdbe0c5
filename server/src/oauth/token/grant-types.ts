import { Injectable } from '@nestjs/common';
import { InvalidRequest, UnsupportedGrantType } from '../oauth.errors';
import { AuthorizationCodeGrant } from './authorization-code.grant';
import { RefreshTokenGrant } from './refresh-token.grant';
import { GrantTypeHandler } from './grant-type';

/** The grant types /token accepts, by `grant_type`. Adding one: its handler file, and an entry here. */
@Injectable()
export class GrantTypes {
  private readonly byName: ReadonlyMap<string, GrantTypeHandler>;

  constructor(authorizationCode: AuthorizationCodeGrant, refreshToken: RefreshTokenGrant) {
    this.byName = new Map<string, GrantTypeHandler>([
      ['authorization_code', authorizationCode],
      ['refresh_token', refreshToken],
    ]);
  }

  /** The handler of the request's grant_type; invalid_request when absent, unsupported_grant_type when unknown. */
  for(grantType: unknown): GrantTypeHandler {
    if (grantType === undefined) throw new InvalidRequest('grant_type is required');
    const handler = typeof grantType === 'string' ? this.byName.get(grantType) : undefined;
    if (!handler) throw new UnsupportedGrantType('only authorization_code and refresh_token are supported');
    return handler;
  }
}
