import { Injectable } from '@nestjs/common';
import * as client from 'openid-client';
import { ConfigService } from '../../config/config.service';
import { FederatedSignInRefusal, FederatedUsersService } from './federated-users.service';
import { IdentityProviderConfig } from './identity-provider.config';
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
  /** Keyed by provider id: at most one entry per configured provider. */
  private readonly built = new Map<string, { at: number; strategy: Promise<GatehouseOidcStrategy> }>();

  constructor(
    private readonly config: ConfigService,
    private readonly users: FederatedUsersService,
  ) {}

  get providers(): IdentityProviderConfig[] {
    return this.config.identityProviders;
  }

  find(id: unknown): IdentityProviderConfig | undefined {
    return this.providers.find((p) => p.id === id);
  }

  callbackUrl(provider: IdentityProviderConfig): string {
    return `${this.config.publicUrl}/login/oidc/${provider.id}/callback`;
  }

  strategyFor(provider: IdentityProviderConfig): Promise<GatehouseOidcStrategy> {
    const cached = this.built.get(provider.id);
    if (cached && Date.now() - cached.at < DISCOVERY_TTL_MS) return cached.strategy;
    const strategy = this.build(provider);
    this.built.set(provider.id, { at: Date.now(), strategy });
    strategy.catch(() => {
      if (this.built.get(provider.id)?.strategy === strategy) this.built.delete(provider.id);
    });
    return strategy;
  }

  private async build(provider: IdentityProviderConfig): Promise<GatehouseOidcStrategy> {
    const execute = [
      // Verify the ID token's signature against the provider's JWKS (openid-client skips it for tokens
      // received straight from the token endpoint over TLS, as OIDC Core §3.1.3.7 step 6 allows).
      client.enableNonRepudiationChecks,
      // An http issuer is the administrator's choice in config.yaml (a lab, a provider on loopback).
      ...(new URL(provider.issuer).protocol === 'http:' ? [client.allowInsecureRequests] : []),
    ];
    const config = await client.discovery(new URL(provider.issuer), provider.client_id, undefined, client.ClientSecretBasic(provider.client_secret), {
      [client.customFetch]: providerFetch(provider),
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
