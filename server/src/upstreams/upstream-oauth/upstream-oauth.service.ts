// CONTRACT — implemented by the chained-OAuth work. Signatures are fixed; see the doc comments.
import { Injectable, Logger } from '@nestjs/common';
import { AuditService } from '../../audit/audit.service';
import { randomToken, sha256 } from '../../common/crypto';
import { ConfigService } from '../../config/config.service';
import { VaultOwner, VaultService } from '../../vault/vault.service';
import { Upstream } from '../upstream';

export type UpstreamTokenResult = { accessToken: string } | { reauthorize: string };

/** The gateway's own redirect URI at every upstream authorization server: PUBLIC_URL + this. */
export const UPSTREAM_CALLBACK_PATH = '/oauth/upstream/callback';

/** Vault purposes (owner {type:'upstream', id: slug} for the first two, {type:'user_upstream', id:`${userId}:${slug}`} for the last). */
export const CLIENT_SECRET_PURPOSE = 'oauth_client_secret';
export const REGISTRATION_PURPOSE = 'oauth_registration';
export const TOKENS_PURPOSE = 'oauth_tokens';

/** A pending sign-in lives this long: the user has 10 minutes to sign in at the upstream. */
const SIGN_IN_TTL_MS = 10 * 60_000;
/** Refresh when the access token expires within this window. */
const REFRESH_MARGIN_MS = 60_000;
const HTTP_TIMEOUT_MS = 15_000;
/** Bound on remembered pending sign-ins (oldest dropped first). */
const MAX_PENDING = 10_000;

/** What is stored in the vault per user+upstream. `expires_at` is epoch milliseconds, null when the AS gave no expires_in. */
export interface StoredUpstreamTokens {
  access_token: string;
  refresh_token: string | null;
  expires_at: number | null;
  scope?: string | null;
}

/** A sign-in that could not be completed; `message` is safe to show the user (it never carries a secret). */
export class UpstreamSignInError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly title = 'Sign-in at the MCP server failed',
  ) {
    super(message);
  }
}

/** The upstream's authorization server could not be reached or answered garbage (not a rejection of the grant). */
export class UpstreamAuthUnavailableError extends Error {}

interface Endpoints {
  issuer: string | null;
  authorizationEndpoint: string;
  tokenEndpoint: string;
  registrationEndpoint: string | null;
  /** token_endpoint_auth_methods_supported, or null when the AS did not say. */
  authMethods: string[] | null;
  /** The RFC 8707 resource to request tokens for. */
  resource: string;
}

type AuthMethod = 'none' | 'client_secret_basic' | 'client_secret_post';

interface OAuthClient {
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

interface PendingSignIn {
  upstream: Upstream;
  userId: string;
  verifier: string;
  returnTo: string;
  redirectUri: string;
  expiresAt: number;
}

interface TokenResponse {
  access_token: string;
  token_type?: string;
  expires_in?: number | string;
  refresh_token?: string;
  scope?: string;
}

/** The token endpoint said no (an OAuth error); as opposed to being unreachable. */
class GrantRejected extends Error {
  constructor(
    readonly error: string,
    readonly description: string | null,
  ) {
    super(description ? `${error}: ${description}` : error);
  }
}

/**
 * Mode "oauth": the gateway as an OAuth 2.1 client of each upstream's own authorization server.
 *
 * - Discovery per upstream (cached in memory): configured endpoints, else RFC 8414 metadata of the
 *   configured issuer, else RFC 9728 protected-resource metadata of the upstream URL → its first
 *   authorization server → RFC 8414 / OpenID discovery.
 * - Client: the configured client_id (+ secret from the vault), else an RFC 7591 registration,
 *   stored in the vault so restarts reuse it.
 * - Sign-in: authorization code + PKCE (S256) with redirect URI PUBLIC_URL/oauth/upstream/callback.
 *   Pending sign-ins are kept in memory only: a gateway restart in the middle of one makes the
 *   callback answer "unknown or expired", and the user simply starts again from the application.
 * - Tokens: per user+upstream in the vault, cached decrypted in memory, refreshed 60 s before
 *   expiry with one refresh in flight per user+upstream. Every write of these tokens goes through
 *   this service, which keeps the cache correct.
 *
 * Upstream tokens never leave this service except as the accessToken() result for the proxy, and
 * are never written to logs or audit rows.
 */
@Injectable()
export class UpstreamOAuthService {
  private readonly logger = new Logger('UpstreamOAuth');
  private readonly endpoints = new Map<string, { fingerprint: string; value: Promise<Endpoints> }>();
  private readonly clients = new Map<string, { fingerprint: string; value: Promise<OAuthClient> }>();
  private readonly pending = new Map<string, PendingSignIn>();
  private readonly tokenCache = new Map<string, StoredUpstreamTokens>();
  private readonly refreshing = new Map<string, Promise<UpstreamTokenResult>>();
  /** Bumped by every write/forget of a user's tokens, so a refresh that loses a race does not write stale tokens back. */
  private readonly generation = new Map<string, number>();

  constructor(
    private readonly vault: VaultService,
    private readonly audit: AuditService,
    private readonly config: ConfigService,
  ) {}

  get redirectUri(): string {
    return `${this.config.publicUrl}${UPSTREAM_CALLBACK_PATH}`;
  }

  /** True when the user has upstream tokens that are valid or can be refreshed. */
  async hasUsableTokens(upstream: Upstream, userId: string): Promise<boolean> {
    const tokens = await this.loadTokens(upstream, userId);
    if (!tokens) return false;
    return !!tokens.refresh_token || tokens.expires_at === null || tokens.expires_at - Date.now() > REFRESH_MARGIN_MS;
  }

  /**
   * Starts the user's sign-in at the upstream's authorization server and returns the URL
   * to send the browser to. After the upstream redirects back to /oauth/upstream/callback,
   * the browser is sent to `returnTo` (a same-origin path, e.g. the /authorize URL).
   */
  async beginSignIn(upstream: Upstream, userId: string, returnTo: string): Promise<string> {
    if (!isSameOriginPath(returnTo)) throw new Error(`upstream sign-in: returnTo must be a same-origin path, got ${JSON.stringify(returnTo)}`);
    let endpoints: Endpoints;
    let client: OAuthClient;
    try {
      endpoints = await this.discover(upstream);
      client = await this.client(upstream, endpoints);
    } catch (err) {
      this.audit.record({
        type: 'upstream.signin',
        outcome: 'failure',
        userId,
        upstreamSlug: upstream.slug,
        detail: { stage: 'discovery', reason: (err as Error).message.slice(0, 300) },
      });
      throw err;
    }
    const verifier = randomToken(32);
    const state = randomToken(24);
    this.prunePending();
    this.pending.set(state, {
      upstream,
      userId,
      verifier,
      returnTo,
      redirectUri: this.redirectUri,
      expiresAt: Date.now() + SIGN_IN_TTL_MS,
    });
    const url = new URL(endpoints.authorizationEndpoint);
    const params: Record<string, string> = {
      response_type: 'code',
      client_id: client.clientId,
      redirect_uri: this.redirectUri,
      code_challenge: sha256(verifier),
      code_challenge_method: 'S256',
      state,
      resource: endpoints.resource,
    };
    const scopes = upstream.oauth?.scopes ?? [];
    if (scopes.length) params.scope = scopes.join(' ');
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
    return url.toString();
  }

  /**
   * Completes a sign-in from the callback: checks the state belongs to the signed-in browser user,
   * exchanges the code (with the PKCE verifier), stores the tokens. Returns where to send the browser.
   * The state is single-use whatever the outcome. Throws UpstreamSignInError with a user-facing message.
   */
  async completeSignIn(state: string, code: string, sessionUserId: string | null): Promise<{ returnTo: string; upstreamSlug: string; userId: string }> {
    const pending = this.takePending(state);
    if (!pending) {
      throw new UpstreamSignInError('This sign-in is unknown or has expired (it may have taken longer than 10 minutes, or the gateway restarted). Start again from the application.', 400);
    }
    const { upstream, userId } = pending;
    const fail = (stage: string, reason: string) =>
      this.audit.record({ type: 'upstream.signin', outcome: 'failure', userId, upstreamSlug: upstream.slug, detail: { stage, reason: reason.slice(0, 300) } });
    if (sessionUserId !== userId) {
      fail('callback', sessionUserId ? 'the browser is signed in as another gateway user' : 'no gateway login session in this browser');
      throw new UpstreamSignInError('This sign-in was started by a different Gatehouse session. Start again from the application in this browser.', 403);
    }
    let tokens: StoredUpstreamTokens;
    try {
      const endpoints = await this.discover(upstream);
      const client = await this.client(upstream, endpoints);
      tokens = await this.tokenRequest(
        upstream,
        endpoints,
        client,
        { grant_type: 'authorization_code', code, redirect_uri: pending.redirectUri, code_verifier: pending.verifier, resource: endpoints.resource },
        null,
      );
    } catch (err) {
      fail('token', (err as Error).message);
      const detail = err instanceof GrantRejected ? ` (${err.error})` : '';
      throw new UpstreamSignInError(`${upstream.name} did not issue tokens to Gatehouse${detail}. Start again from the application.`, 502);
    }
    await this.writeTokens(upstream, userId, tokens);
    this.audit.record({
      type: 'upstream.signin',
      outcome: 'success',
      userId,
      upstreamSlug: upstream.slug,
      detail: { scope: tokens.scope ?? null, refreshable: !!tokens.refresh_token, expires_at: tokens.expires_at },
    });
    return { returnTo: pending.returnTo, upstreamSlug: upstream.slug, userId };
  }

  /**
   * The upstream redirected back with an error (e.g. the user declined there). Consumes the state
   * when it belongs to the browser's user, and audits the failure.
   */
  failSignIn(state: string, error: string, sessionUserId: string | null): { upstream: Upstream; returnTo: string } | null {
    const pending = this.peekPending(state);
    if (!pending || pending.userId !== sessionUserId) return null;
    this.pending.delete(state);
    this.audit.record({
      type: 'upstream.signin',
      outcome: 'failure',
      userId: pending.userId,
      upstreamSlug: pending.upstream.slug,
      detail: { stage: 'authorize', error: error.slice(0, 100) },
    });
    return { upstream: pending.upstream, returnTo: pending.returnTo };
  }

  /** A valid upstream access token for the user, refreshed when near expiry; or why re-authorization is needed. */
  async accessToken(upstream: Upstream, userId: string): Promise<UpstreamTokenResult> {
    const tokens = await this.loadTokens(upstream, userId);
    if (!tokens) return { reauthorize: 'not signed in at the upstream' };
    if (tokens.expires_at === null || tokens.expires_at - Date.now() > REFRESH_MARGIN_MS) return { accessToken: tokens.access_token };
    if (!tokens.refresh_token) {
      if (tokens.expires_at > Date.now()) return { accessToken: tokens.access_token };
      await this.forget(upstream, userId);
      return { reauthorize: 'the upstream access token expired and cannot be refreshed' };
    }
    const key = tokenKey(upstream, userId);
    let inFlight = this.refreshing.get(key);
    if (!inFlight) {
      inFlight = this.refresh(upstream, userId, tokens).finally(() => this.refreshing.delete(key));
      this.refreshing.set(key, inFlight);
    }
    return inFlight;
  }

  /** Forgets the user's upstream tokens (e.g. when their grant at the gateway is revoked by an admin). */
  async forget(upstream: Upstream, userId: string): Promise<void> {
    const key = tokenKey(upstream, userId);
    this.bump(key);
    this.tokenCache.delete(key);
    await this.vault.delete(tokensOwner(upstream, userId), TOKENS_PURPOSE, { userId });
  }

  /**
   * The upstream rejected an access token we believed valid (it answered 401): the next
   * accessToken() call refreshes it (or asks for re-authorization when it cannot).
   */
  markAccessTokenRejected(upstream: Upstream, userId: string): void {
    const cached = this.tokenCache.get(tokenKey(upstream, userId));
    if (cached) cached.expires_at = 0;
  }

  /** Drops what is cached about an upstream (after an admin changed or removed it). Tokens stay. */
  forgetUpstreamSettings(slug: string): void {
    this.endpoints.delete(slug);
    this.clients.delete(slug);
  }

  // ---- tokens ----

  private async refresh(upstream: Upstream, userId: string, old: StoredUpstreamTokens): Promise<UpstreamTokenResult> {
    const key = tokenKey(upstream, userId);
    const generation = this.generation.get(key) ?? 0;
    let fresh: StoredUpstreamTokens;
    try {
      const endpoints = await this.discover(upstream);
      const client = await this.client(upstream, endpoints);
      fresh = await this.tokenRequest(
        upstream,
        endpoints,
        client,
        { grant_type: 'refresh_token', refresh_token: old.refresh_token!, resource: endpoints.resource },
        old,
      );
    } catch (err) {
      const rejected = err instanceof GrantRejected;
      this.audit.record({
        type: 'upstream.token_refresh',
        outcome: 'failure',
        userId,
        upstreamSlug: upstream.slug,
        detail: rejected ? { error: (err as GrantRejected).error } : { reason: (err as Error).message.slice(0, 300) },
      });
      if (rejected) {
        if ((this.generation.get(key) ?? 0) === generation) await this.forget(upstream, userId);
        return { reauthorize: `the upstream refused to refresh the sign-in (${(err as GrantRejected).error})` };
      }
      // Unreachable or broken AS: keep the refresh token for the next attempt; the current
      // access token may still have a few seconds left.
      if (old.expires_at !== null && old.expires_at > Date.now()) return { accessToken: old.access_token };
      throw new UpstreamAuthUnavailableError(`${upstream.name}: could not refresh the upstream sign-in: ${(err as Error).message}`);
    }
    if ((this.generation.get(key) ?? 0) !== generation) {
      // Forgotten (or replaced by a new sign-in) while refreshing: do not resurrect these tokens.
      const current = await this.loadTokens(upstream, userId);
      return current ? { accessToken: current.access_token } : { reauthorize: 'not signed in at the upstream' };
    }
    await this.writeTokens(upstream, userId, fresh);
    this.audit.record({
      type: 'upstream.token_refresh',
      outcome: 'success',
      userId,
      upstreamSlug: upstream.slug,
      detail: { rotated: fresh.refresh_token !== old.refresh_token, expires_at: fresh.expires_at },
    });
    return { accessToken: fresh.access_token };
  }

  private async loadTokens(upstream: Upstream, userId: string): Promise<StoredUpstreamTokens | null> {
    const key = tokenKey(upstream, userId);
    const cached = this.tokenCache.get(key);
    if (cached) return cached;
    const generation = this.generation.get(key) ?? 0;
    const stored = await this.vault.getJson<StoredUpstreamTokens>(tokensOwner(upstream, userId), TOKENS_PURPOSE);
    if (!stored || typeof stored.access_token !== 'string') return null;
    // Only cache when no write/forget happened while reading.
    if ((this.generation.get(key) ?? 0) === generation) this.tokenCache.set(key, stored);
    return stored;
  }

  private async writeTokens(upstream: Upstream, userId: string, tokens: StoredUpstreamTokens): Promise<void> {
    const key = tokenKey(upstream, userId);
    this.bump(key);
    this.tokenCache.delete(key);
    await this.vault.put(tokensOwner(upstream, userId), TOKENS_PURPOSE, tokens, { userId });
    this.tokenCache.set(key, tokens);
  }

  private bump(key: string): void {
    this.generation.set(key, (this.generation.get(key) ?? 0) + 1);
  }

  /** POSTs a grant to the token endpoint; throws GrantRejected for an OAuth error answer. */
  private async tokenRequest(
    upstream: Upstream,
    endpoints: Endpoints,
    client: OAuthClient,
    grant: Record<string, string>,
    previous: StoredUpstreamTokens | null,
  ): Promise<StoredUpstreamTokens> {
    const body = new URLSearchParams(grant);
    const headers: Record<string, string> = { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' };
    if (client.authMethod === 'client_secret_basic' && client.clientSecret !== null) {
      headers.Authorization = `Basic ${Buffer.from(`${formEncode(client.clientId)}:${formEncode(client.clientSecret)}`).toString('base64')}`;
    } else {
      body.set('client_id', client.clientId);
      if (client.authMethod === 'client_secret_post' && client.clientSecret !== null) body.set('client_secret', client.clientSecret);
    }
    const res = await httpRequest(endpoints.tokenEndpoint, { method: 'POST', headers, body: body.toString() });
    const json = parseJson(res.text);
    if (res.status !== 200) {
      if (res.status >= 400 && res.status < 500 && json && typeof json.error === 'string') {
        if (json.error === 'invalid_client' && client.registered) await this.dropRegistration(upstream);
        throw new GrantRejected(json.error, typeof json.error_description === 'string' ? json.error_description : null);
      }
      throw new UpstreamAuthUnavailableError(`token endpoint answered HTTP ${res.status}`);
    }
    const t = json as Partial<TokenResponse> | null;
    if (!t || typeof t.access_token !== 'string' || !t.access_token) throw new UpstreamAuthUnavailableError('token endpoint answered without an access_token');
    if (t.token_type !== undefined && String(t.token_type).toLowerCase() !== 'bearer') {
      throw new GrantRejected('unsupported_token_type', `token_type ${String(t.token_type).slice(0, 40)} is not supported`);
    }
    const expiresIn = t.expires_in === undefined || t.expires_in === null ? NaN : Number(t.expires_in);
    return {
      access_token: t.access_token,
      // RFC 6749 §6: the AS may keep the refresh token; then the old one stays valid.
      refresh_token: typeof t.refresh_token === 'string' && t.refresh_token ? t.refresh_token : (previous?.refresh_token ?? null),
      expires_at: Number.isFinite(expiresIn) && expiresIn >= 0 ? Date.now() + expiresIn * 1000 : null,
      scope: typeof t.scope === 'string' ? t.scope : (previous?.scope ?? null),
    };
  }

  // ---- pending sign-ins ----

  private peekPending(state: string): PendingSignIn | null {
    const p = this.pending.get(state);
    if (!p) return null;
    if (p.expiresAt <= Date.now()) {
      this.pending.delete(state);
      return null;
    }
    return p;
  }

  private takePending(state: string): PendingSignIn | null {
    const p = this.peekPending(state);
    if (p) this.pending.delete(state);
    return p;
  }

  private prunePending(): void {
    const now = Date.now();
    for (const [state, p] of this.pending) if (p.expiresAt <= now) this.pending.delete(state);
    // Insertion order is age order: drop the oldest beyond the bound.
    for (const state of this.pending.keys()) {
      if (this.pending.size < MAX_PENDING) break;
      this.pending.delete(state);
    }
  }

  // ---- discovery ----

  private discover(upstream: Upstream): Promise<Endpoints> {
    const fingerprint = JSON.stringify([upstream.url, upstream.oauth]);
    const cached = this.endpoints.get(upstream.slug);
    if (cached && cached.fingerprint === fingerprint) return cached.value;
    const value = this.discoverNow(upstream).catch((err: Error) => {
      // Failures are not cached: the next sign-in tries again.
      if (this.endpoints.get(upstream.slug)?.value === value) this.endpoints.delete(upstream.slug);
      throw new Error(`upstream "${upstream.slug}": ${err.message}`);
    });
    this.endpoints.set(upstream.slug, { fingerprint, value });
    return value;
  }

  private async discoverNow(upstream: Upstream): Promise<Endpoints> {
    const o = upstream.oauth;
    const resource = upstream.url;
    if (o?.authorizationEndpoint && o.tokenEndpoint) {
      return {
        issuer: o.issuer,
        authorizationEndpoint: o.authorizationEndpoint,
        tokenEndpoint: o.tokenEndpoint,
        registrationEndpoint: o.registrationEndpoint,
        authMethods: null,
        resource,
      };
    }
    let issuer = o?.issuer ?? null;
    let prmResource: string | null = null;
    if (!issuer) {
      const prm = await this.protectedResourceMetadata(upstream);
      issuer = prm.issuer;
      prmResource = prm.resource;
    }
    const meta = await this.authorizationServerMetadata(issuer);
    const authorizationEndpoint = o?.authorizationEndpoint ?? meta.authorization_endpoint;
    const tokenEndpoint = o?.tokenEndpoint ?? meta.token_endpoint;
    if (typeof authorizationEndpoint !== 'string' || typeof tokenEndpoint !== 'string') {
      throw new Error(`the authorization server metadata of ${issuer} has no authorization_endpoint or token_endpoint`);
    }
    const methods = meta.code_challenge_methods_supported;
    if (Array.isArray(methods) && !methods.includes('S256')) {
      throw new Error(`the authorization server ${issuer} does not support PKCE with S256`);
    }
    return {
      issuer,
      authorizationEndpoint,
      tokenEndpoint,
      registrationEndpoint: o?.registrationEndpoint ?? (typeof meta.registration_endpoint === 'string' ? meta.registration_endpoint : null),
      authMethods: Array.isArray(meta.token_endpoint_auth_methods_supported) ? meta.token_endpoint_auth_methods_supported.map(String) : null,
      resource: prmResource ?? resource,
    };
  }

  /** RFC 9728: the upstream's protected-resource metadata → its first authorization server. */
  private async protectedResourceMetadata(upstream: Upstream): Promise<{ issuer: string; resource: string | null }> {
    const url = new URL(upstream.url);
    const path = url.pathname.replace(/\/+$/, '');
    const candidates = [...new Set([`${url.origin}/.well-known/oauth-protected-resource${path}`, `${url.origin}/.well-known/oauth-protected-resource`])];
    const tried: string[] = [];
    for (const candidate of candidates) {
      const doc = await fetchJsonDocument(candidate, tried);
      if (doc) return this.readPrm(doc, candidate);
    }
    // Last resort (as MCP clients do): the resource_metadata named by the upstream's own 401 challenge.
    const fromChallenge = await resourceMetadataFromChallenge(upstream.url);
    if (fromChallenge && !candidates.includes(fromChallenge)) {
      const doc = await fetchJsonDocument(fromChallenge, tried);
      if (doc) return this.readPrm(doc, fromChallenge);
    }
    throw new Error(
      `could not discover the authorization server: no OAuth protected resource metadata (RFC 9728) at ${tried.join(', ')}; ` +
        'set auth.oauth.issuer or the endpoints in the configuration',
    );
  }

  private readPrm(doc: Record<string, any>, from: string): { issuer: string; resource: string | null } {
    const servers = doc.authorization_servers;
    if (!Array.isArray(servers) || typeof servers[0] !== 'string') {
      throw new Error(`the protected resource metadata at ${from} names no authorization_servers`);
    }
    return { issuer: servers[0], resource: typeof doc.resource === 'string' ? doc.resource : null };
  }

  /** RFC 8414 (path insertion), then OpenID Connect discovery. */
  private async authorizationServerMetadata(issuer: string): Promise<Record<string, any>> {
    let url: URL;
    try {
      url = new URL(issuer);
    } catch {
      throw new Error(`authorization server issuer ${JSON.stringify(issuer)} is not a URL`);
    }
    const path = url.pathname.replace(/\/+$/, '');
    const candidates = path
      ? [
          `${url.origin}/.well-known/oauth-authorization-server${path}`,
          `${url.origin}/.well-known/openid-configuration${path}`,
          `${url.origin}${path}/.well-known/openid-configuration`,
        ]
      : [`${url.origin}/.well-known/oauth-authorization-server`, `${url.origin}/.well-known/openid-configuration`];
    const tried: string[] = [];
    for (const candidate of candidates) {
      const doc = await fetchJsonDocument(candidate, tried);
      if (!doc) continue;
      // RFC 8414 §3.3: the metadata must be about the issuer we asked for.
      if (typeof doc.issuer === 'string' && trimSlash(doc.issuer) !== trimSlash(issuer)) {
        throw new Error(`the metadata at ${candidate} is for issuer ${doc.issuer}, not ${issuer}`);
      }
      return doc;
    }
    throw new Error(`no authorization server metadata (RFC 8414 / OpenID discovery) for ${issuer} at ${tried.join(', ')}`);
  }

  // ---- client ----

  private client(upstream: Upstream, endpoints: Endpoints): Promise<OAuthClient> {
    const fingerprint = JSON.stringify([upstream.oauth, endpoints.registrationEndpoint, endpoints.authMethods, this.redirectUri]);
    const cached = this.clients.get(upstream.slug);
    if (cached && cached.fingerprint === fingerprint) return cached.value;
    const value = this.clientNow(upstream, endpoints).catch((err: Error) => {
      if (this.clients.get(upstream.slug)?.value === value) this.clients.delete(upstream.slug);
      throw new Error(`upstream "${upstream.slug}": ${err.message}`);
    });
    this.clients.set(upstream.slug, { fingerprint, value });
    return value;
  }

  private async clientNow(upstream: Upstream, endpoints: Endpoints): Promise<OAuthClient> {
    const o = upstream.oauth;
    if (o?.clientId) {
      const secret = o.hasClientSecret ? await this.vault.get(upstreamOwner(upstream), CLIENT_SECRET_PURPOSE) : null;
      if (o.hasClientSecret && secret === null) throw new Error('the configured client secret is missing from the vault');
      let authMethod: AuthMethod = 'none';
      if (secret !== null) {
        const m = endpoints.authMethods;
        authMethod = m && !m.includes('client_secret_basic') && m.includes('client_secret_post') ? 'client_secret_post' : 'client_secret_basic';
      }
      return { clientId: o.clientId, clientSecret: secret, authMethod, registered: false };
    }
    const registrationEndpoint = endpoints.registrationEndpoint;
    if (!registrationEndpoint) {
      throw new Error('the authorization server offers no dynamic client registration (RFC 7591); configure auth.oauth.client_id');
    }
    const stored = await this.vault.getJson<StoredRegistration>(upstreamOwner(upstream), REGISTRATION_PURPOSE);
    if (
      stored &&
      stored.registration_endpoint === registrationEndpoint &&
      stored.redirect_uri === this.redirectUri &&
      !(stored.client_secret_expires_at && stored.client_secret_expires_at * 1000 <= Date.now() + REFRESH_MARGIN_MS)
    ) {
      return { clientId: stored.client_id, clientSecret: stored.client_secret ?? null, authMethod: stored.token_endpoint_auth_method, registered: true };
    }
    return this.register(upstream, registrationEndpoint, endpoints.authMethods);
  }

  /** RFC 7591 dynamic client registration; the result is kept in the vault. */
  private async register(upstream: Upstream, registrationEndpoint: string, supported: string[] | null): Promise<OAuthClient> {
    const wanted: AuthMethod = !supported || supported.includes('none')
      ? 'none'
      : supported.includes('client_secret_basic')
        ? 'client_secret_basic'
        : 'client_secret_post';
    const request: Record<string, unknown> = {
      client_name: 'Gatehouse',
      client_uri: this.config.publicUrl,
      redirect_uris: [this.redirectUri],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: wanted,
    };
    const scopes = upstream.oauth?.scopes ?? [];
    if (scopes.length) request.scope = scopes.join(' ');
    const res = await httpRequest(registrationEndpoint, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify(request),
    });
    const json = parseJson(res.text);
    if (res.status !== 201 && res.status !== 200) {
      const why = json && typeof json.error === 'string' ? `${json.error}${typeof json.error_description === 'string' ? `: ${json.error_description}` : ''}` : `HTTP ${res.status}`;
      throw new Error(`dynamic client registration at ${registrationEndpoint} failed (${why.slice(0, 200)})`);
    }
    if (!json || typeof json.client_id !== 'string' || !json.client_id) {
      throw new Error(`dynamic client registration at ${registrationEndpoint} returned no client_id`);
    }
    const secret = typeof json.client_secret === 'string' && json.client_secret ? json.client_secret : null;
    let method: AuthMethod = isAuthMethod(json.token_endpoint_auth_method) ? json.token_endpoint_auth_method : wanted;
    if (method !== 'none' && !secret) method = 'none';
    if (method === 'none' && secret) method = 'client_secret_basic';
    const registration: StoredRegistration = {
      client_id: json.client_id,
      client_secret: secret,
      client_secret_expires_at: typeof json.client_secret_expires_at === 'number' ? json.client_secret_expires_at : null,
      token_endpoint_auth_method: method,
      registration_endpoint: registrationEndpoint,
      redirect_uri: this.redirectUri,
    };
    await this.vault.put(upstreamOwner(upstream), REGISTRATION_PURPOSE, registration);
    this.audit.record({
      type: 'upstream.client_registration',
      outcome: 'success',
      upstreamSlug: upstream.slug,
      detail: { client_id: registration.client_id, token_endpoint_auth_method: method },
    });
    this.logger.log(`registered as client ${registration.client_id} at ${registrationEndpoint} for upstream ${upstream.slug}`);
    return { clientId: registration.client_id, clientSecret: secret, authMethod: method, registered: true };
  }

  /** The AS no longer knows our registered client: register afresh at the next sign-in. */
  private async dropRegistration(upstream: Upstream): Promise<void> {
    this.clients.delete(upstream.slug);
    await this.vault.delete(upstreamOwner(upstream), REGISTRATION_PURPOSE);
  }
}

function tokenKey(upstream: Upstream, userId: string): string {
  return `${userId}:${upstream.slug}`;
}

function tokensOwner(upstream: Upstream, userId: string): VaultOwner {
  return { type: 'user_upstream', id: tokenKey(upstream, userId) };
}

function upstreamOwner(upstream: Upstream): VaultOwner {
  return { type: 'upstream', id: upstream.slug };
}

function isSameOriginPath(value: string): boolean {
  return typeof value === 'string' && value.startsWith('/') && !value.startsWith('//') && !value.startsWith('/\\');
}

function isAuthMethod(value: unknown): value is AuthMethod {
  return value === 'none' || value === 'client_secret_basic' || value === 'client_secret_post';
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}

/** RFC 6749 §2.3.1: client credentials are form-encoded before Basic encoding. */
function formEncode(value: string): string {
  return encodeURIComponent(value).replace(/%20/g, '+');
}

function parseJson(text: string): Record<string, any> | null {
  try {
    const v = JSON.parse(text);
    return v && typeof v === 'object' && !Array.isArray(v) ? v : null;
  } catch {
    return null;
  }
}

async function httpRequest(url: string, init: RequestInit): Promise<{ status: number; text: string; headers: Headers }> {
  let res: Response;
  try {
    res = await fetch(url, { ...init, redirect: init.method === 'POST' ? 'manual' : 'follow', signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new UpstreamAuthUnavailableError(`${url} is unreachable (${cause?.code ?? cause?.message ?? (err as Error).message})`);
  }
  return { status: res.status, text: await res.text(), headers: res.headers };
}

/** GETs a JSON metadata document; null when absent (any non-200 or non-JSON answer). */
async function fetchJsonDocument(url: string, tried: string[]): Promise<Record<string, any> | null> {
  tried.push(url);
  const res = await httpRequest(url, { method: 'GET', headers: { Accept: 'application/json' } });
  return res.status === 200 ? parseJson(res.text) : null;
}

/** The resource_metadata URL from the upstream's 401 WWW-Authenticate challenge, if it sends one. */
async function resourceMetadataFromChallenge(upstreamUrl: string): Promise<string | null> {
  try {
    const res = await httpRequest(upstreamUrl, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'ping' }),
    });
    if (res.status !== 401) return null;
    const m = /resource_metadata="([^"]+)"/i.exec(res.headers.get('www-authenticate') ?? '');
    return m ? new URL(m[1], upstreamUrl).toString() : null;
  } catch {
    return null;
  }
}
