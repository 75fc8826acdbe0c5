import { Injectable } from '@nestjs/common';
import { Type } from 'class-transformer';
import { IsArray, IsOptional, IsString, IsUrl, ValidateNested } from 'class-validator';
import type { Upstream } from '../upstream';
import { CLIENT_SECRET_PURPOSE, VaultPurpose } from '../../vault/vault-addresses';
import { UpstreamOAuthService } from '../upstream-oauth/upstream-oauth.service';
import { AuthConfigBase, AuthConfigProblem, AuthFormField, AuthModeForm, AuthModeSummary, AuthStepUnavailable, BaseAuthMode, CredentialResult, UNSENDABLE } from './auth-mode';

const HTTP_URL = { require_tld: false, protocols: ['http', 'https'], require_protocol: true };

/** The `oauth:` block: the gateway is an OAuth client of the upstream's own authorization server. */
export class UpstreamOAuthConfig {
  /** A pre-registered client; without it the gateway registers itself by RFC 7591. */
  @IsOptional()
  @IsString()
  client_id?: string;

  /** Stored in the vault; may reference ${ENV_VARS}. */
  @IsOptional()
  @IsString()
  client_secret?: string;

  /** The upstream's authorization server; without it, found by RFC 9728 from the upstream URL. */
  @IsOptional()
  @IsUrl(HTTP_URL)
  issuer?: string;

  @IsOptional()
  @IsUrl(HTTP_URL)
  authorization_endpoint?: string;

  @IsOptional()
  @IsUrl(HTTP_URL)
  token_endpoint?: string;

  @IsOptional()
  @IsUrl(HTTP_URL)
  registration_endpoint?: string;

  @IsOptional()
  @IsArray()
  @IsString({ each: true })
  scopes?: string[];
}

export class OAuthAuthConfig extends AuthConfigBase {
  mode = 'oauth' as const;

  @IsOptional()
  @ValidateNested()
  @Type(() => UpstreamOAuthConfig)
  oauth?: UpstreamOAuthConfig;

  check(): AuthConfigProblem | null {
    if (this.oauth?.client_secret && !this.oauth.client_id) return { key: 'oauth.client_id', problem: 'a client_secret needs its client_id' };
    return null;
  }
}

/** Non-secret settings of mode "oauth" (the client secret lives in the vault). */
export interface UpstreamOAuthSettings {
  clientId: string | null;
  hasClientSecret: boolean;
  issuer: string | null;
  authorizationEndpoint: string | null;
  tokenEndpoint: string | null;
  registrationEndpoint: string | null;
  scopes: string[];
}

export interface OAuthSettings {
  oauth: UpstreamOAuthSettings | null;
}

/**
 * Mode "oauth": each user signs in at the upstream's own authorization server during /authorize
 * (between the gateway login and the consent page), and the proxy sends that user's upstream
 * access token. The OAuth client itself is UpstreamOAuthService.
 */
@Injectable()
export class OAuthAuthMode extends BaseAuthMode<OAuthAuthConfig, OAuthSettings> {
  static readonly mode = 'oauth';
  static readonly configClass = OAuthAuthConfig;

  readonly noSettings: OAuthSettings = { oauth: null };

  constructor(private readonly upstreamOAuth: UpstreamOAuthService) {
    super();
  }

  settingsFrom(config: OAuthAuthConfig): OAuthSettings {
    const o = config.oauth;
    return {
      oauth: {
        clientId: o?.client_id ?? null,
        hasClientSecret: !!o?.client_secret,
        issuer: o?.issuer ?? null,
        authorizationEndpoint: o?.authorization_endpoint ?? null,
        tokenEndpoint: o?.token_endpoint ?? null,
        registrationEndpoint: o?.registration_endpoint ?? null,
        scopes: o?.scopes ?? [],
      },
    };
  }

  secretsFrom(config: OAuthAuthConfig): Map<VaultPurpose, string> {
    const secret = config.oauth?.client_secret;
    return new Map(secret ? [[CLIENT_SECRET_PURPOSE, secret]] : []);
  }

  managesSecret(purpose: VaultPurpose): boolean {
    return purpose === CLIENT_SECRET_PURPOSE;
  }

  /** The user signs in at the upstream first, unless they have tokens that are valid or can be refreshed. */
  async prerequisite(upstream: Upstream, userId: string, returnTo: string): Promise<string | null> {
    if (await this.upstreamOAuth.hasUsableTokens(upstream, userId)) return null;
    try {
      return await this.upstreamOAuth.beginSignIn(upstream, userId, returnTo);
    } catch (err) {
      throw new AuthStepUnavailable(
        `sign-in at upstream ${upstream.slug} cannot start: ${(err as Error).message}`,
        'Cannot reach the sign-in service',
        `${upstream.name} cannot be signed in to right now. Try again later.`,
      );
    }
  }

  async headersFor(upstream: Upstream, userId: string): Promise<CredentialResult> {
    const result = await this.upstreamOAuth.accessToken(upstream, userId);
    return 'accessToken' in result ? { headers: { authorization: `Bearer ${result.accessToken}` } } : result;
  }

  /** The upstream no longer takes our token for this user: refresh it before the next request. */
  unsendableCredentialHint(upstream: Upstream): string {
    return `the access token issued by the sign-in service of ${upstream.name} ${UNSENDABLE}; ask an administrator to check that service`;
  }

  onUpstreamUnauthorized(upstream: Upstream, userId: string): void {
    this.upstreamOAuth.markAccessTokenRejected(upstream, userId);
  }

  forgetUpstream(slug: string): void {
    this.upstreamOAuth.forgetUpstreamSettings(slug);
  }

  forgetUser(upstream: Upstream, userId: string): Promise<void> {
    return this.upstreamOAuth.forget(upstream, userId);
  }

  /** Without a grant at the gateway, the user's upstream tokens serve nothing: they are forgotten. */
  onLastGrantEnded(upstream: Upstream, userId: string): Promise<void> {
    return this.forgetUser(upstream, userId);
  }

  describe(upstream: Upstream): AuthModeSummary {
    const o = upstream.oauth;
    const server = o?.issuer ?? o?.authorizationEndpoint ?? 'the authorization server named by the upstream (RFC 9728)';
    const client = o?.clientId ? `client ${o.clientId}` : 'a client registered there by RFC 7591';
    return { mode: OAuthAuthMode.mode, summary: `each user signs in at ${server}, as ${client}`, secretsSet: o?.hasClientSecret ? ['OAuth client secret'] : [] };
  }

  form(): AuthModeForm {
    const field = (name: keyof UpstreamOAuthConfig, label: string, type: AuthFormField['type'], help: string): AuthFormField => ({
      name: `oauth.${name}`,
      label,
      type,
      required: false,
      secret: type === 'secret',
      help,
    });
    return {
      label: 'OAuth (each user signs in at the upstream)',
      fields: [
        field('client_id', 'Client ID', 'text', 'A client registered at the upstream in advance. Without it the gateway registers itself there (RFC 7591).'),
        field('client_secret', 'Client secret', 'secret', 'The secret of that client (needs the client ID). Stored encrypted and never shown again: leave blank to keep it.'),
        field('issuer', 'Issuer', 'url', "The upstream's authorization server. Without it, found from the upstream URL (RFC 9728)."),
        field('authorization_endpoint', 'Authorization endpoint', 'url', "With the token endpoint, skips discovery; otherwise taken from the issuer's metadata (RFC 8414)."),
        field('token_endpoint', 'Token endpoint', 'url', "With the authorization endpoint, skips discovery; otherwise taken from the issuer's metadata (RFC 8414)."),
        field('registration_endpoint', 'Registration endpoint', 'url', 'Where the gateway registers itself when no client ID is given (RFC 7591).'),
        field('scopes', 'Scopes', 'list', 'Scopes requested at the upstream. Default: none.'),
      ],
    };
  }

  formValues(upstream: Upstream): Record<string, unknown> {
    const o = upstream.oauth;
    if (!o) return {};
    const values = {
      client_id: o.clientId,
      issuer: o.issuer,
      authorization_endpoint: o.authorizationEndpoint,
      token_endpoint: o.tokenEndpoint,
      registration_endpoint: o.registrationEndpoint,
    };
    return { oauth: { ...Object.fromEntries(Object.entries(values).filter(([, v]) => v !== null)), scopes: [...o.scopes] } };
  }

  /** A blank (or absent) client secret keeps the stored one; null removes it. */
  keepStoredSecrets(config: OAuthAuthConfig, stored: ReadonlyMap<VaultPurpose, string>): AuthConfigProblem | null {
    const o = config.oauth;
    if (!o || o.client_secret === null) return null;
    if (o.client_secret === undefined || o.client_secret === '') {
      const kept = stored.get(CLIENT_SECRET_PURPOSE);
      o.client_secret = kept !== undefined && o.client_id ? kept : undefined;
    }
    return null;
  }
}
