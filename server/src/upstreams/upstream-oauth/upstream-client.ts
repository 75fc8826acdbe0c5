import { Logger } from '@nestjs/common';
import * as oauth from 'oauth4webapi';
import { ConfigService } from '../../config/config.service';
import { CLIENT_SECRET_PURPOSE, REGISTRATION_PURPOSE, upstreamOwner } from '../../vault/vault-addresses';
import { VaultService } from '../../vault/vault.service';
import { Upstream } from '../upstream';
import { PerUpstreamCache } from './per-upstream-cache';
import { AuthServer } from './auth-server-discovery';
import { requestOptions } from './upstream-http';
import { UpstreamAuthUnavailableError } from './upstream-oauth.errors';
import { REFRESH_MARGIN_MS } from './upstream-token-store';

/** The gateway's own redirect URI at every upstream authorization server: PUBLIC_URL + this. */
export const UPSTREAM_CALLBACK_PATH = '/oauth/upstream/callback';

type AuthMethod = 'none' | 'client_secret_basic' | 'client_secret_post';

export interface UpstreamClientRegistration {
  clientId: string;
  clientSecret: string | null;
  authMethod: AuthMethod;
  /** True when obtained by dynamic registration (forgotten when the AS no longer knows it). */
  registered: boolean;
}

/** The RFC 7591 registration kept in the vault so restarts reuse it. */
interface StoredRegistration {
  client_id: string;
  client_secret?: string | null;
  client_secret_expires_at?: number | null;
  token_endpoint_auth_method: AuthMethod;
  registration_endpoint: string;
  redirect_uri: string;
}

export function upstreamRedirectUri(config: ConfigService): string {
  return `${config.publicUrl}${UPSTREAM_CALLBACK_PATH}`;
}

/**
 * The gateway as a client of each upstream's authorization server (cached in memory): the configured
 * client_id (+ secret from the vault), else an RFC 7591 registration, stored in the vault so restarts
 * reuse it.
 */
export class UpstreamClients {
  private readonly logger = new Logger('UpstreamOAuth');
  private readonly cache = new PerUpstreamCache<UpstreamClientRegistration>();

  constructor(
    private readonly vault: VaultService,
    private readonly config: ConfigService,
  ) {}

  client(upstream: Upstream, server: AuthServer): Promise<UpstreamClientRegistration> {
    const fingerprint = JSON.stringify([upstream.oauth, server.metadata.registration_endpoint, authMethodsOf(server), upstreamRedirectUri(this.config)]);
    return this.cache.get(upstream.slug, fingerprint, () => this.resolve(upstream, server));
  }

  forget(slug: string): void {
    this.cache.delete(slug);
  }

  /** The AS no longer knows our registered client: register afresh at the next sign-in. */
  async dropRegistration(upstream: Upstream): Promise<void> {
    this.cache.delete(upstream.slug);
    await this.vault.delete(upstreamOwner(upstream.slug), REGISTRATION_PURPOSE);
  }

  private async resolve(upstream: Upstream, server: AuthServer): Promise<UpstreamClientRegistration> {
    if (upstream.oauth?.clientId) return this.configured(upstream, upstream.oauth.clientId, authMethodsOf(server));
    const registrationEndpoint = server.metadata.registration_endpoint;
    if (!registrationEndpoint) {
      throw new Error('the authorization server offers no dynamic client registration (RFC 7591); configure auth.oauth.client_id');
    }
    const stored = await this.vault.getJson<StoredRegistration>(upstreamOwner(upstream.slug), REGISTRATION_PURPOSE);
    if (stored && isReusable(stored, registrationEndpoint, upstreamRedirectUri(this.config))) {
      return { clientId: stored.client_id, clientSecret: stored.client_secret ?? null, authMethod: stored.token_endpoint_auth_method, registered: true };
    }
    return this.register(upstream, server, authMethodsOf(server));
  }

  /** The configured client_id, with its secret from the vault when it has one (Basic unless the AS takes only POST). */
  private async configured(upstream: Upstream, clientId: string, supported: string[] | null): Promise<UpstreamClientRegistration> {
    const hasSecret = upstream.oauth?.hasClientSecret;
    const secret = hasSecret ? await this.vault.get(upstreamOwner(upstream.slug), CLIENT_SECRET_PURPOSE) : null;
    if (hasSecret && secret === null) throw new Error('the configured client secret is missing from the vault');
    let authMethod: AuthMethod = 'none';
    if (secret !== null) {
      authMethod = supported && !supported.includes('client_secret_basic') && supported.includes('client_secret_post') ? 'client_secret_post' : 'client_secret_basic';
    }
    return { clientId, clientSecret: secret, authMethod, registered: false };
  }

  /** RFC 7591 dynamic client registration; the result is kept in the vault. */
  private async register(upstream: Upstream, server: AuthServer, supported: string[] | null): Promise<UpstreamClientRegistration> {
    const registrationEndpoint = server.metadata.registration_endpoint!;
    const redirectUri = upstreamRedirectUri(this.config);
    const wanted = preferredAuthMethod(supported);
    const scopes = upstream.oauth?.scopes ?? [];
    const metadata: Partial<oauth.OmitSymbolProperties<oauth.Client>> = {
      client_name: 'Gatehouse',
      client_uri: this.config.publicUrl,
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: wanted,
      ...(scopes.length ? { scope: scopes.join(' ') } : {}),
    };
    let json: oauth.Client;
    try {
      json = await oauth.processDynamicClientRegistrationResponse(acceptingOk(await oauth.dynamicClientRegistrationRequest(server.metadata, metadata, requestOptions(upstream))));
    } catch (err) {
      if (err instanceof UpstreamAuthUnavailableError) throw err;
      throw new Error(`dynamic client registration at ${registrationEndpoint} failed (${registrationFailure(err).slice(0, 200)})`);
    }
    const secret = typeof json.client_secret === 'string' && json.client_secret ? json.client_secret : null;
    const method = grantedAuthMethod(json.token_endpoint_auth_method, wanted, secret);
    const registration: StoredRegistration = {
      client_id: json.client_id,
      client_secret: secret,
      client_secret_expires_at: typeof json.client_secret_expires_at === 'number' ? json.client_secret_expires_at : null,
      token_endpoint_auth_method: method,
      registration_endpoint: registrationEndpoint,
      redirect_uri: redirectUri,
    };
    await this.vault.put(upstreamOwner(upstream.slug), REGISTRATION_PURPOSE, registration, {
      event: {
        type: 'upstream.client_registration',
        outcome: 'success',
        upstreamSlug: upstream.slug,
        detail: { client_id: registration.client_id, token_endpoint_auth_method: method },
      },
    });
    this.logger.log(`registered as client ${registration.client_id} at ${registrationEndpoint} for upstream ${upstream.slug}`);
    return { clientId: registration.client_id, clientSecret: secret, authMethod: method, registered: true };
  }
}

/** The registration as oauth4webapi's client. */
export function oauthClient(client: UpstreamClientRegistration): oauth.Client {
  return { client_id: client.clientId, token_endpoint_auth_method: client.authMethod };
}

/** How the client authenticates at the token endpoint (RFC 6749 §2.3.1): HTTP Basic, its secret in the form body, or only its client_id. */
export function clientAuthentication(client: UpstreamClientRegistration): oauth.ClientAuth {
  if (client.clientSecret === null || client.authMethod === 'none') return oauth.None();
  return client.authMethod === 'client_secret_post' ? oauth.ClientSecretPost(client.clientSecret) : oauth.ClientSecretBasic(client.clientSecret);
}

/**
 * RFC 7591 §3.2.1 answers a registration with 201, which oauth4webapi requires; the gateway has always
 * also taken a 200 (some servers send it), so that one is passed on as the 201 it means.
 */
function acceptingOk(res: Response): Response {
  return res.status === 200 ? new Response(res.body, { status: 201, headers: res.headers }) : res;
}

/** The AS's OAuth error (RFC 7591 §3.2.2), else its HTTP status, else what oauth4webapi found wrong with the answer. */
function registrationFailure(err: unknown): string {
  if (err instanceof oauth.ResponseBodyError) return `${err.error}${err.error_description ? `: ${err.error_description}` : ''}`;
  if (err instanceof oauth.WWWAuthenticateChallengeError) return `HTTP ${err.status}`;
  const answer = (err as { cause?: unknown }).cause;
  return answer instanceof Response ? `HTTP ${answer.status}` : (err as Error).message;
}

/** A stored registration serves while it is for the same endpoint and redirect URI and its secret is not about to expire. */
function isReusable(stored: StoredRegistration, registrationEndpoint: string, redirectUri: string): boolean {
  return (
    stored.registration_endpoint === registrationEndpoint &&
    stored.redirect_uri === redirectUri &&
    !(stored.client_secret_expires_at && stored.client_secret_expires_at * 1000 <= Date.now() + REFRESH_MARGIN_MS)
  );
}

/** token_endpoint_auth_methods_supported, or null when the AS did not say. */
function authMethodsOf(server: AuthServer): string[] | null {
  const methods = server.metadata.token_endpoint_auth_methods_supported;
  return Array.isArray(methods) ? methods.map(String) : null;
}

/** What to ask for at registration: a public client when the AS allows it (or does not say). */
function preferredAuthMethod(supported: string[] | null): AuthMethod {
  if (!supported || supported.includes('none')) return 'none';
  return supported.includes('client_secret_basic') ? 'client_secret_basic' : 'client_secret_post';
}

/** What the AS granted, made consistent with whether it issued a secret. */
function grantedAuthMethod(answered: unknown, wanted: AuthMethod, secret: string | null): AuthMethod {
  let method: AuthMethod = isAuthMethod(answered) ? answered : wanted;
  if (method !== 'none' && !secret) method = 'none';
  if (method === 'none' && secret) method = 'client_secret_basic';
  return method;
}

function isAuthMethod(value: unknown): value is AuthMethod {
  return value === 'none' || value === 'client_secret_basic' || value === 'client_secret_post';
}
