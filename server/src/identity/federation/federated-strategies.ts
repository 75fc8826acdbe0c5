import { Injectable } from '@nestjs/common';
import type { Request } from 'express';
import * as client from 'openid-client';
import passport from 'passport';
import { ConfigService } from '../../config/config.service';
import { User } from '../user.entity';
import { FederatedSignInRefusal, FederatedUsersService } from './federated-users.service';
import { IdentityProvider, IdentityProvidersService } from './identity-providers.service';
import { oidcStrategyClass, StrategyVerdict } from './oidc-strategy';
import { providerFetch } from './provider-fetch';

/** A provider's discovery document is read again after this long (new endpoints; new keys are fetched on an unknown `kid` anyway). */
const DISCOVERY_TTL_MS = 60 * 60_000;

/**
 * The passport strategies of the identity providers, one per provider, on this gateway's own passport
 * instance (`authenticator`): @nestjs/passport's PassportStrategy mixin registers strategies on the
 * process-wide `passport` by default, where several gateways in one process (tests, benchmarks) would
 * replace each other's `oidc:<id>`; here each gateway registers on, and authenticates with, its own.
 * A strategy is built on the first sign-in through its provider (OIDC Discovery 1.0 §4, through the SSRF
 * guard) and again when a console provider changes; a failed discovery is not kept, so the next click
 * tries again.
 */
@Injectable()
export class FederatedStrategies {
  /** This gateway's passport: strategies registered here are invisible to any other gateway. */
  readonly authenticator = new passport.Passport();
  private readonly Strategy = oidcStrategyClass<User>(this.authenticator);
  /** Keyed by provider id: at most one entry per provider (ids of deleted providers are dropped when seen). */
  private readonly built = new Map<string, { at: number; version: string; name: Promise<string> }>();

  constructor(
    private readonly config: ConfigService,
    private readonly providers: IdentityProvidersService,
    private readonly users: FederatedUsersService,
  ) {}

  /** The provider, or undefined (its strategy, if any, is forgotten). */
  async find(id: unknown): Promise<IdentityProvider | undefined> {
    const provider = await this.providers.find(id);
    if (!provider && typeof id === 'string' && this.built.delete(id)) this.authenticator.unuse(strategyName(id));
    return provider;
  }

  callbackUrl(provider: IdentityProvider): string {
    return `${this.config.publicUrl}/login/oidc/${provider.id}/callback`;
  }

  /** The name of the provider's strategy on `authenticator`, once it is registered there. */
  strategyFor(provider: IdentityProvider): Promise<string> {
    const cached = this.built.get(provider.id);
    // A console provider changed since: its new issuer, client or scopes apply at once.
    if (cached && cached.version === provider.version && Date.now() - cached.at < DISCOVERY_TTL_MS) return cached.name;
    const name = this.build(provider);
    this.built.set(provider.id, { at: Date.now(), version: provider.version, name });
    name.catch(() => {
      if (this.built.get(provider.id)?.name === name) this.built.delete(provider.id);
    });
    return name;
  }

  private async build(provider: IdentityProvider): Promise<string> {
    const secret = await this.providers.clientSecret(provider);
    if (!secret) throw new Error(`no client secret is stored for the identity provider ${provider.id}`);
    const execute = [
      // Verify the ID token's signature against the provider's JWKS (openid-client skips it for tokens
      // received straight from the token endpoint over TLS, as OIDC Core §3.1.3.7 step 6 allows).
      client.enableNonRepudiationChecks,
      // An http issuer is the administrator's choice (a lab, a provider on loopback); the SSRF guard still decides the addresses.
      ...(new URL(provider.issuer).protocol === 'http:' ? [client.allowInsecureRequests] : []),
    ];
    const config = await client.discovery(new URL(provider.issuer), provider.client_id, undefined, client.ClientSecretBasic(secret), {
      [client.customFetch]: providerFetch(provider, provider.source === 'config' ? 'issuer' : this.providers.consoleProvidersMayUsePrivateNetworks ? 'all' : 'none'),
      execute,
    });
    const users = this.users;
    const name = strategyName(provider.id);
    // Registers itself on this.authenticator under `name` (replacing an older build of the same provider).
    new (class extends this.Strategy {
      async validate(req: Request, tokens: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers): Promise<StrategyVerdict<User>> {
        const claims = tokens.claims();
        if (!claims) return [false, new FederatedSignInRefusal('no_id_token', `${provider.name} returned no ID token (is "openid" among the scopes?).`)];
        try {
          return await users.signIn(provider, claims, req.ip ?? null);
        } catch (err) {
          if (err instanceof FederatedSignInRefusal) return [false, err];
          throw err;
        }
      }
    })({ config, scope: provider.scopes.join(' '), callbackURL: this.callbackUrl(provider), name });
    return name;
  }
}

function strategyName(providerId: string): string {
  return `oidc:${providerId}`;
}
