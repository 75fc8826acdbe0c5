import { Injectable } from '@nestjs/common';
import { AuditService } from '../../audit/audit.service';
import { isSameOriginPath } from '../../common/same-origin-path';
import { ConfigService } from '../../config/config.service';
import { PendingSignIns } from '../../pending-sign-ins/pending-sign-ins.service';
import { VaultService } from '../../vault/vault.service';
import { Upstream } from '../upstream';
import { AuthServer, AuthServerDiscovery } from './auth-server-discovery';
import { AuthorizationResponse, authorizationRequest } from './authorization-request';
import { PendingUpstreamSignIn } from './pending-sign-ins';
import { UpstreamClientRegistration, UpstreamClients, upstreamRedirectUri } from './upstream-client';
import { GrantRejected, UpstreamAuthUnavailableError, UpstreamSignInError } from './upstream-oauth.errors';
import { requestTokens, UpstreamGrant } from './upstream-token-endpoint';
import { isFresh, isUnexpired, StoredUpstreamTokens, UpstreamTokenResult, UpstreamTokenStore } from './upstream-token-store';

export { UPSTREAM_CALLBACK_PATH } from './upstream-client';
export { UpstreamAuthUnavailableError, UpstreamSignInError } from './upstream-oauth.errors';
export { type StoredUpstreamTokens, type UpstreamTokenResult } from './upstream-token-store';

/**
 * Mode "oauth": the gateway as an OAuth 2.1 client of each upstream's own authorization server.
 *
 * - Discovery per upstream (AuthServerDiscovery), and the gateway's client there (UpstreamClients):
 *   configured, or an RFC 7591 registration kept in the vault. The protocol itself is oauth4webapi's,
 *   its requests sent through the SSRF guard (upstream-http.ts).
 * - Sign-in: authorization code + PKCE (S256) with redirect URI PUBLIC_URL/oauth/upstream/callback;
 *   pending sign-ins are rows of PendingSignIns by state (the callback may land on any replica).
 * - Tokens: per user+upstream in the vault, cached decrypted in memory (UpstreamTokenStore), refreshed
 *   60 s before expiry with one refresh in flight per user+upstream.
 *
 * Upstream tokens never leave this service except as the accessToken() result for the proxy, and
 * are never written to logs or audit rows.
 */
@Injectable()
export class UpstreamOAuthService {
  private readonly discovery = new AuthServerDiscovery();
  private readonly clients: UpstreamClients;
  private readonly tokens: UpstreamTokenStore;

  constructor(
    vault: VaultService,
    private readonly audit: AuditService,
    private readonly config: ConfigService,
    private readonly pending: PendingSignIns,
  ) {
    this.clients = new UpstreamClients(vault, config);
    this.tokens = new UpstreamTokenStore(vault);
  }

  get redirectUri(): string {
    return upstreamRedirectUri(this.config);
  }

  /** True when the user has upstream tokens that are valid or can be refreshed. */
  async hasUsableTokens(upstream: Upstream, userId: string): Promise<boolean> {
    const tokens = await this.tokens.load(upstream, userId);
    if (!tokens) return false;
    return !!tokens.refresh_token || isFresh(tokens);
  }

  /**
   * Starts the user's sign-in at the upstream's authorization server and returns the URL
   * to send the browser to. After the upstream redirects back to /oauth/upstream/callback,
   * the browser is sent to `returnTo` (a same-origin path, e.g. the /authorize URL).
   */
  async beginSignIn(upstream: Upstream, userId: string, returnTo: string): Promise<string> {
    if (!isSameOriginPath(returnTo)) throw new Error(`upstream sign-in: returnTo must be a same-origin path, got ${JSON.stringify(returnTo)}`);
    let server: AuthServer;
    let client: UpstreamClientRegistration;
    try {
      ({ server, client } = await this.authServerAndClient(upstream));
    } catch (err) {
      this.auditSignInFailure(upstream, userId, 'discovery', (err as Error).message);
      throw err;
    }
    const redirectUri = this.redirectUri;
    const { url, state, verifier } = await authorizationRequest(upstream, server, client, redirectUri);
    const signIn: PendingUpstreamSignIn = { upstream, userId, verifier, returnTo, redirectUri };
    await this.pending.put('upstream', state, `user:${userId}`, signIn);
    return url;
  }

  /**
   * Completes a sign-in from the callback: checks the state belongs to the signed-in browser user,
   * exchanges the code (with the PKCE verifier), stores the tokens. Returns where to send the browser.
   * The state is single-use whatever the outcome. Throws UpstreamSignInError with a user-facing message.
   */
  async completeSignIn(response: AuthorizationResponse, sessionUserId: string | null): Promise<{ returnTo: string; upstreamSlug: string; userId: string }> {
    const pending = await this.pending.take<PendingUpstreamSignIn>('upstream', response.state);
    if (!pending) {
      throw new UpstreamSignInError(
        'This sign-in is unknown or has expired (it may have taken longer than 10 minutes, or it was already completed). Start again from the application.',
        400,
      );
    }
    const { upstream, userId } = pending;
    if (sessionUserId !== userId) {
      this.auditSignInFailure(upstream, userId, 'callback', sessionUserId ? 'the browser is signed in as another gateway user' : 'no gateway login session in this browser');
      throw new UpstreamSignInError('This sign-in was started by a different Gatehouse session. Start again from the application in this browser.', 403);
    }
    let tokens: StoredUpstreamTokens;
    try {
      tokens = await this.obtainTokens(upstream, { grant_type: 'authorization_code', response, redirect_uri: pending.redirectUri, code_verifier: pending.verifier }, null);
    } catch (err) {
      this.auditSignInFailure(upstream, userId, 'token', (err as Error).message);
      const detail = err instanceof GrantRejected ? ` (${err.error})` : '';
      throw new UpstreamSignInError(`${upstream.name} did not issue tokens to Gatehouse${detail}. Start again from the application.`, 502);
    }
    await this.tokens.write(upstream, userId, tokens, {
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
  async failSignIn(state: string, error: string, sessionUserId: string | null): Promise<{ upstream: Upstream; returnTo: string } | null> {
    const pending = await this.pending.take<PendingUpstreamSignIn>('upstream', state, (p) => p.userId === sessionUserId);
    if (!pending) return null;
    const { upstream } = pending;
    void this.audit.recordNow({
      type: 'upstream.signin',
      outcome: 'failure',
      userId: pending.userId,
      upstreamSlug: upstream.slug,
      detail: { stage: 'authorize', error: error.slice(0, 100) },
    });
    return { upstream, returnTo: pending.returnTo };
  }

  /** A valid upstream access token for the user, refreshed when near expiry; or why re-authorization is needed. */
  async accessToken(upstream: Upstream, userId: string): Promise<UpstreamTokenResult> {
    const tokens = await this.tokens.load(upstream, userId);
    if (!tokens) return { reauthorize: 'not signed in at the upstream' };
    if (isFresh(tokens)) return { accessToken: tokens.access_token };
    if (!tokens.refresh_token) {
      if (isUnexpired(tokens)) return { accessToken: tokens.access_token };
      await this.forget(upstream, userId);
      return { reauthorize: 'the upstream access token expired and cannot be refreshed' };
    }
    return this.tokens.refreshOnce(upstream, userId, () => this.refresh(upstream, userId, tokens));
  }

  /** Forgets the user's upstream tokens (e.g. when their grant at the gateway is revoked by an admin). */
  async forget(upstream: Upstream, userId: string): Promise<void> {
    await this.tokens.forget(upstream, userId);
  }

  /**
   * The upstream rejected an access token we believed valid (it answered 401): the next
   * accessToken() call refreshes it (or asks for re-authorization when it cannot).
   */
  markAccessTokenRejected(upstream: Upstream, userId: string): void {
    this.tokens.expireCached(upstream, userId);
  }

  /** Drops what is cached about an upstream (after an admin changed or removed it). Tokens stay in the vault (removed with it when it is deleted). */
  forgetUpstreamSettings(slug: string): void {
    this.discovery.forget(slug);
    this.clients.forget(slug);
    this.tokens.forgetCachedFor(slug);
  }

  private async refresh(upstream: Upstream, userId: string, old: StoredUpstreamTokens): Promise<UpstreamTokenResult> {
    const generation = this.tokens.generation(upstream, userId);
    let fresh: StoredUpstreamTokens;
    try {
      fresh = await this.obtainTokens(upstream, { grant_type: 'refresh_token', refresh_token: old.refresh_token! }, old);
    } catch (err) {
      return this.refreshFailed(upstream, userId, old, generation, err as Error);
    }
    if (this.tokens.generation(upstream, userId) !== generation) {
      // Forgotten (or replaced by a new sign-in) while refreshing: do not resurrect these tokens.
      const current = await this.tokens.load(upstream, userId);
      return current ? { accessToken: current.access_token } : { reauthorize: 'not signed in at the upstream' };
    }
    await this.tokens.write(upstream, userId, fresh, {
      type: 'upstream.token_refresh',
      outcome: 'success',
      userId,
      upstreamSlug: upstream.slug,
      detail: { rotated: fresh.refresh_token !== old.refresh_token, expires_at: fresh.expires_at },
    });
    return { accessToken: fresh.access_token };
  }

  /** A refused refresh ends the sign-in (unless it was replaced meanwhile); other failures keep it. */
  private async refreshFailed(upstream: Upstream, userId: string, old: StoredUpstreamTokens, generation: number, err: Error): Promise<UpstreamTokenResult> {
    void this.audit.recordNow({
      type: 'upstream.token_refresh',
      outcome: 'failure',
      userId,
      upstreamSlug: upstream.slug,
      detail: err instanceof GrantRejected ? { error: err.error } : { reason: err.message.slice(0, 300) },
    });
    if (err instanceof GrantRejected) {
      if (this.tokens.generation(upstream, userId) === generation) await this.forget(upstream, userId);
      return { reauthorize: `the upstream refused to refresh the sign-in (${err.error})` };
    }
    // Unreachable or broken AS: keep the refresh token for the next attempt; the current
    // access token may still have a few seconds left.
    if (isUnexpired(old)) return { accessToken: old.access_token };
    throw new UpstreamAuthUnavailableError(`${upstream.name}: could not refresh the upstream sign-in: ${err.message}`);
  }

  /** Redeems a grant at the upstream's token endpoint, for its RFC 8707 resource. */
  private async obtainTokens(upstream: Upstream, grant: UpstreamGrant, previous: StoredUpstreamTokens | null): Promise<StoredUpstreamTokens> {
    const { server, client } = await this.authServerAndClient(upstream);
    try {
      return await requestTokens(upstream, server, client, grant, previous);
    } catch (err) {
      if (err instanceof GrantRejected && err.error === 'invalid_client' && client.registered) await this.clients.dropRegistration(upstream);
      throw err;
    }
  }

  private async authServerAndClient(upstream: Upstream): Promise<{ server: AuthServer; client: UpstreamClientRegistration }> {
    const server = await this.discovery.authServer(upstream);
    return { server, client: await this.clients.client(upstream, server) };
  }

  private auditSignInFailure(upstream: Upstream, userId: string, stage: string, reason: string): void {
    void this.audit.recordNow({ type: 'upstream.signin', outcome: 'failure', userId, upstreamSlug: upstream.slug, detail: { stage, reason: reason.slice(0, 300) } });
  }
}
