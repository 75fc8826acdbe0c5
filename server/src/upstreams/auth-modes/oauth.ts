import { Injectable } from '@nestjs/common';
import { Type } from 'class-transformer';
import { IsArray, IsOptional, IsString, IsUrl, ValidateNested } from 'class-validator';
import type { Upstream } from '../upstream';
import { CLIENT_SECRET_PURPOSE, UpstreamOAuthService } from '../upstream-oauth/upstream-oauth.service';
import { AuthConfigBase, AuthConfigProblem, AuthModeSummary, AuthStepUnavailable, BaseAuthMode, CredentialResult } from './auth-mode';

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

  secretsFrom(config: OAuthAuthConfig): Map<string, string> {
    const secret = config.oauth?.client_secret;
    return new Map(secret ? [[CLIENT_SECRET_PURPOSE, secret]] : []);
  }

  managesSecret(purpose: string): boolean {
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
}
