import { Injectable } from '@nestjs/common';
import * as client from 'openid-client';
import { ConfigService } from '../../config/config.service';
import { FederatedSignInRefusal, FederatedUsersService } from './federated-users.service';
import { IdentityProvider, IdentityProvidersService } from './identity-providers.service';
import { GatehouseOidcStrategy } from './oidc-strategy';
import { providerFetch } from './provider-fetch';

/** A provider's discovery document is read again after this long (new endpoints; new keys are fetched on an unknown `kid` anyway). */
const DISCOVERY_TTL_MS = 60 * 60_000;

/**
 * One passport strategy instance per provider and per gateway, never registered by name on passport's
 * global registry (`passport.use`, what @nestjs/passport's PassportStrategy mixin does): several
 * gateways in one process (tests, benchmarks) each own theirs, as PasswordAuthGuard owns its strategy.
 * A strategy is built on the first sign-in through its provider (OIDC Discovery 1.0 §4, through the
 * SSRF guard); a failed discovery is not kept, so the next click tries again.
 */
@Injectable()
export class FederatedStrategies {
  /** Keyed by provider id: at most one entry per provider (ids of deleted providers are dropped when seen). */
  private readonly built = new Map<string, { at: number; version: string; strategy: Promise<GatehouseOidcStrategy> }>();

  constructor(
    private readonly config: ConfigService,
    private readonly providers: IdentityProvidersService,
    private readonly users: FederatedUsersService,
  ) {}

  /** The provider, or undefined (its strategy, if any, is forgotten). */
  async find(id: unknown): Promise<IdentityProvider | undefined> {
    const provider = await this.providers.find(id);
    if (!provider && typeof id === 'string') this.built.delete(id);
    return provider;
  }

  callbackUrl(provider: IdentityProvider): string {
    return `${this.config.publicUrl}/login/oidc/${provider.id}/callback`;
  }

  strategyFor(provider: IdentityProvider): Promise<GatehouseOidcStrategy> {
    const cached = this.built.get(provider.id);
    // A console provider changed since: its new issuer, client or scopes apply at once.
    if (cached && cached.version === provider.version && Date.now() - cached.at < DISCOVERY_TTL_MS) return cached.strategy;
    const strategy = this.build(provider);
    this.built.set(provider.id, { at: Date.now(), version: provider.version, strategy });
    strategy.catch(() => {
      if (this.built.get(provider.id)?.strategy === strategy) this.built.delete(provider.id);
    });
    return strategy;
  }

  private async build(provider: IdentityProvider): Promise<GatehouseOidcStrategy> {
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
    return new GatehouseOidcStrategy(
      { config, scope: provider.scopes.join(' '), callbackURL: this.callbackUrl(provider), name: `oidc:${provider.id}` },
      (req, tokens, verified) => {
        const claims = tokens.claims();
        if (!claims) return verified(null, false, new FederatedSignInRefusal('no_id_token', `${provider.name} returned no ID token (is "openid" among the scopes?).`));
        this.users.signIn(provider, claims, req.ip ?? null).then(
          (user) => verified(null, user),
          (err) => (err instanceof FederatedSignInRefusal ? verified(null, false, err) : verified(err)),
        );
      },
    );
  }
}
