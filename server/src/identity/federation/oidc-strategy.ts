import { PassportStrategy } from '@nestjs/passport';
import type { Request } from 'express';
import type passport from 'passport';
import * as client from 'openid-client';
import { AuthenticateOptions, Strategy, StrategyOptionsWithRequest, VerifyFunctionWithRequest } from 'openid-client/passport';

/** The key under `req.session` where the strategy leaves its PKCE verifier, state and nonce (see FederationController). */
export const STRATEGY_SESSION_KEY = 'oidc';

/**
 * openid-client's passport strategy, with `state` and `nonce` on every authorization request. The
 * stock strategy sends a nonce only for response types carrying an ID token and a state only when the
 * provider does not support PKCE; Gatehouse always sends both besides PKCE (S256):
 * - nonce: OIDC Core §3.1.2.1 / §3.1.3.7 step 11 binds the ID token to this request, so an ID token
 *   replayed from another sign-in is refused even by a provider that skips PKCE;
 * - state: RFC 6749 §10.12, checked by openid-client against the callback's `state`.
 * The strategy keeps both (with the verifier) in `req.session[STRATEGY_SESSION_KEY]` and checks them
 * at the callback.
 */
export class GatehouseOidcStrategy extends Strategy {
  constructor(options: Omit<StrategyOptionsWithRequest, 'sessionKey' | 'passReqToCallback'>, verify: VerifyFunctionWithRequest) {
    super({ ...options, sessionKey: STRATEGY_SESSION_KEY, passReqToCallback: true }, verify);
  }

  override authorizationRequestParams<TOptions extends AuthenticateOptions>(req: Request, options: TOptions): URLSearchParams | Record<string, string> | undefined {
    const params = new URLSearchParams(super.authorizationRequestParams(req, options));
    params.set('state', client.randomState());
    params.set('nonce', client.randomNonce());
    return params;
  }
}

/** What a provider's strategy hands passport: the gateway user, or `false` with why (a failure, not an error). */
export type StrategyVerdict<U> = U | [false, Error];

/**
 * The @nestjs/passport form of GatehouseOidcStrategy (a `validate()` method instead of a verify callback),
 * registered on `authenticator`, the gateway's own passport instance, instead of the process-wide
 * `passport` the PassportStrategy mixin uses by default (its getPassportInstance()): each gateway in a
 * process (tests, benchmarks) then has its own registry, and `oidc:<id>` in one never replaces another's.
 * The mixin registers the strategy under its name (`options.name`) when it is constructed.
 */
export function oidcStrategyClass<U>(authenticator: passport.Authenticator) {
  abstract class FederatedOidcStrategy extends PassportStrategy(GatehouseOidcStrategy) {
    /** Called by the mixin during construction: fields of this class are not set yet, hence the closure. */
    getPassportInstance(): passport.Authenticator {
      return authenticator;
    }

    abstract override validate(req: Request, tokens: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers): Promise<StrategyVerdict<U>>;
  }
  return FederatedOidcStrategy;
}
