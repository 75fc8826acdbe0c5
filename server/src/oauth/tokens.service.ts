import { randomUUID } from 'node:crypto';
import { Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { IsNull, LessThan, Repository } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { randomToken, sha256 } from '../common/crypto';
import { ConfigService } from '../config/config.service';
import { UpstreamsService } from '../upstreams/upstreams.service';
import { AccessToken } from './access-token.entity';
import { AccessTokenCache, AccessTokenInfo } from './access-token.cache';
import { AuthorizationCode } from './authorization-code.entity';
import { OAuthClient } from './client.entity';
import { Grant } from './grant.entity';
import { InvalidGrant, InvalidRequest, InvalidScope, InvalidTarget, UnauthorizedClient } from './oauth.errors';
import { PKCE_VALUE, verifyS256 } from './pkce';
import { RefreshToken } from './refresh-token.entity';

export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  refresh_token: string;
  scope: string;
}

export interface NewCode {
  clientId: string;
  userId: string;
  upstreamSlug: string;
  redirectUri: string;
  codeChallenge: string;
  scope: string;
}

type Params = Record<string, unknown>;

const PURGE_EVERY_MS = 10 * 60_000;

@Injectable()
export class TokensService implements OnModuleInit, OnModuleDestroy {
  private readonly cache = new AccessTokenCache();
  /** Old refresh-token hash → the pair it was rotated into, for the grace window only (never persisted). */
  private readonly recentRotations = new Map<string, { grantId: string; response: TokenResponse; until: number }>();
  private purgeTimer: NodeJS.Timeout | null = null;
  /** Told the id of every grant the moment it is revoked (the proxy cuts that grant's open streams). */
  private readonly grantRevokedListeners: Array<(grantId: string) => void> = [];

  constructor(
    @InjectRepository(AuthorizationCode) private readonly codes: Repository<AuthorizationCode>,
    @InjectRepository(Grant) private readonly grants: Repository<Grant>,
    @InjectRepository(RefreshToken) private readonly refreshTokens: Repository<RefreshToken>,
    @InjectRepository(AccessToken) private readonly accessTokens: Repository<AccessToken>,
    private readonly upstreams: UpstreamsService,
    private readonly config: ConfigService,
    private readonly audit: AuditService,
  ) {}

  onModuleInit(): void {
    this.purgeTimer = setInterval(() => void this.purgeExpired(), PURGE_EVERY_MS);
    this.purgeTimer.unref();
  }

  onModuleDestroy(): void {
    if (this.purgeTimer) clearInterval(this.purgeTimer);
  }

  async issueCode(input: NewCode): Promise<string> {
    const code = randomToken();
    await this.codes.insert({
      ...input,
      codeHash: sha256(code),
      expiresAt: Date.now() + this.config.oauth.authorization_code_ttl * 1000,
      usedAt: null,
      grantId: null,
    });
    return code;
  }

  /** OAuth 2.1 §4.1.3 authorization_code grant. */
  async exchangeCode(client: OAuthClient, params: Params, ip: string | null): Promise<TokenResponse> {
    const code = requireString(params, 'code');
    const row = await this.codes.findOneBy({ codeHash: sha256(code) });
    if (!row || row.clientId !== client.clientId) throw new InvalidGrant('authorization code is invalid');
    if (row.usedAt) {
      await this.onCodeReplay(row, ip);
      throw new InvalidGrant('authorization code was already used');
    }
    if (row.expiresAt <= Date.now()) throw new InvalidGrant('authorization code has expired');
    // OAuth 2.1 §4.1.3: required when the authorization request carried it. /authorize lets a client
    // with a single registered redirect URI omit it, so omission is accepted for exactly that URI.
    const omittedForSingleUri = params.redirect_uri === undefined && client.redirectUris.length === 1 && client.redirectUris[0] === row.redirectUri;
    if (params.redirect_uri === undefined && !omittedForSingleUri) throw new InvalidRequest('redirect_uri is required');
    if (!omittedForSingleUri && params.redirect_uri !== row.redirectUri) {
      throw new InvalidGrant('redirect_uri does not match the authorization request');
    }
    const verifier = requireString(params, 'code_verifier');
    if (!PKCE_VALUE.test(verifier)) throw new InvalidRequest('code_verifier must be 43-128 unreserved characters');
    if (!verifyS256(verifier, row.codeChallenge)) throw new InvalidGrant('code_verifier does not match the code_challenge');
    this.checkResourceParam(params, row.upstreamSlug);

    const grant = this.grants.create({
      id: randomUUID(),
      userId: row.userId,
      clientId: row.clientId,
      upstreamSlug: row.upstreamSlug,
      scope: row.scope,
      createdAt: Date.now(),
      revokedAt: null,
      revokedReason: null,
    });
    await this.grants.insert(grant);
    // Claim the code atomically: of two concurrent exchanges only one may win.
    const claimed = await this.codes.update(
      { codeHash: row.codeHash, usedAt: IsNull() },
      { usedAt: Date.now(), grantId: grant.id },
    );
    if (!claimed.affected) {
      await this.grants.delete({ id: grant.id });
      await this.onCodeReplay({ ...row, grantId: (await this.codes.findOneBy({ codeHash: row.codeHash }))?.grantId ?? null }, ip);
      throw new InvalidGrant('authorization code was already used');
    }
    const response = await this.issuePair(grant, grant.scope);
    this.audit.record({ type: 'token.issue', outcome: 'success', ...who(grant), ip, detail: { grant_id: grant.id } });
    return response;
  }

  /** OAuth 2.1 §4.3 refresh_token grant, rotating the refresh token on every use. */
  async refresh(client: OAuthClient, params: Params, ip: string | null): Promise<TokenResponse> {
    if (!client.grantTypes.includes('refresh_token')) {
      throw new UnauthorizedClient('this client is not registered for the refresh_token grant');
    }
    const token = requireString(params, 'refresh_token');
    const hash = sha256(token);
    const row = await this.refreshTokens.findOneBy({ tokenHash: hash });
    const grant = row ? await this.grants.findOneBy({ id: row.grantId }) : null;
    if (!row || !grant || grant.clientId !== client.clientId) throw new InvalidGrant('refresh token is invalid');
    if (grant.revokedAt) throw new InvalidGrant('refresh token has been revoked');
    if (row.expiresAt <= Date.now()) throw new InvalidGrant('refresh token has expired');
    this.checkResourceParam(params, grant.upstreamSlug);
    const scope = narrowScope(params.scope, grant.scope);

    const claimed = row.rotatedAt
      ? { affected: 0 }
      : await this.refreshTokens.update({ tokenHash: hash, rotatedAt: IsNull() }, { rotatedAt: Date.now() });
    if (!claimed.affected) return this.onRotatedTokenUse(hash, grant, ip);

    const response = await this.issuePair(grant, scope);
    this.rememberRotation(hash, grant.id, response);
    this.audit.record({ type: 'token.refresh', outcome: 'success', ...who(grant), ip, detail: { grant_id: grant.id } });
    return response;
  }

  /** RFC 7009: revokes an access token, or a refresh token together with its whole grant. */
  async revoke(client: OAuthClient | null, token: string, ip: string | null): Promise<void> {
    const hash = sha256(token);
    const access = await this.accessTokens.findOneBy({ tokenHash: hash });
    if (access && (!client || access.clientId === client.clientId)) {
      await this.accessTokens.delete({ tokenHash: hash });
      this.cache.delete(hash);
      this.audit.record({ type: 'token.revoke', outcome: 'success', ...who(access), ip, detail: { token_type: 'access_token' } });
      return;
    }
    const refresh = await this.refreshTokens.findOneBy({ tokenHash: hash });
    const grant = refresh ? await this.grants.findOneBy({ id: refresh.grantId }) : null;
    if (grant && (!client || grant.clientId === client.clientId)) {
      await this.revokeGrant(grant.id, 'revoked by client', ip);
    }
  }

  /** Ends a grant: its refresh tokens stop working and its access tokens are deleted at once. */
  async revokeGrant(grantId: string, reason: string, ip: string | null = null): Promise<void> {
    const revoked = await this.grants.update({ id: grantId, revokedAt: IsNull() }, { revokedAt: Date.now(), revokedReason: reason });
    await this.accessTokens.delete({ grantId });
    this.cache.deleteWhere((info) => info.grantId === grantId);
    for (const [hash, r] of this.recentRotations) if (r.grantId === grantId) this.recentRotations.delete(hash);
    for (const listener of this.grantRevokedListeners) listener(grantId);
    if (revoked.affected) {
      const grant = await this.grants.findOneBy({ id: grantId });
      this.audit.record({ type: 'grant.revoke', outcome: 'success', ...(grant ? who(grant) : {}), ip, detail: { grant_id: grantId, reason } });
    }
  }

  /** Calls listener(grantId) whenever a grant is revoked, after its tokens stopped working. */
  onGrantRevoked(listener: (grantId: string) => void): void {
    this.grantRevokedListeners.push(listener);
  }

  /**
   * Ends every grant of the user (disabled or deleted): their tokens stop working and their open
   * streams are cut at once; codes not yet exchanged are deleted so none becomes a new grant.
   * Returns how many grants were live.
   */
  async revokeAllForUser(userId: string, reason: string, ip: string | null = null): Promise<number> {
    await this.codes.delete({ userId, usedAt: IsNull() });
    const live = await this.grants.findBy({ userId, revokedAt: IsNull() });
    for (const grant of live) await this.revokeGrant(grant.id, reason, ip);
    return live.length;
  }

  /** How many of the user's grants are live (not revoked). */
  activeGrantCount(userId: string): Promise<number> {
    return this.grants.countBy({ userId, revokedAt: IsNull() });
  }

  /** The token's details when it is a live access token; null otherwise. Hot path: cached. */
  async verifyAccessToken(token: string): Promise<AccessTokenInfo | null> {
    const hash = sha256(token);
    const cached = this.cache.get(hash);
    if (cached) return cached;
    const row = await this.accessTokens.findOneBy({ tokenHash: hash });
    if (!row || row.expiresAt <= Date.now()) return null;
    const grant = await this.grants.findOneBy({ id: row.grantId });
    if (!grant || grant.revokedAt) return null;
    const info: AccessTokenInfo = {
      tokenHash: hash,
      grantId: row.grantId,
      clientId: row.clientId,
      userId: row.userId,
      upstreamSlug: row.upstreamSlug,
      scope: row.scope,
      expiresAt: row.expiresAt,
    };
    this.cache.set(info);
    return info;
  }

  /** RFC 7662 §2.2. A client sees only its own tokens as active. */
  async introspect(token: string, client: OAuthClient | null): Promise<Record<string, unknown>> {
    const inactive = { active: false };
    const access = await this.verifyAccessToken(token);
    if (access) {
      if (client && access.clientId !== client.clientId) return inactive;
      return {
        active: true,
        token_type: 'Bearer',
        scope: access.scope,
        client_id: access.clientId,
        sub: access.userId,
        aud: this.config.resourceUrl(access.upstreamSlug),
        iss: this.config.issuer,
        exp: Math.floor(access.expiresAt / 1000),
      };
    }
    const refresh = await this.refreshTokens.findOneBy({ tokenHash: sha256(token) });
    const grant = refresh ? await this.grants.findOneBy({ id: refresh.grantId }) : null;
    if (!refresh || !grant || grant.revokedAt || refresh.rotatedAt || refresh.expiresAt <= Date.now()) return inactive;
    if (client && grant.clientId !== client.clientId) return inactive;
    return {
      active: true,
      token_type: 'refresh_token',
      scope: grant.scope,
      client_id: grant.clientId,
      sub: grant.userId,
      aud: this.config.resourceUrl(grant.upstreamSlug),
      iss: this.config.issuer,
      exp: Math.floor(refresh.expiresAt / 1000),
    };
  }

  private async issuePair(grant: Grant, scope: string): Promise<TokenResponse> {
    const now = Date.now();
    const accessToken = randomToken();
    const refreshToken = randomToken();
    const ttl = this.config.oauth.access_token_ttl;
    const info: AccessTokenInfo = {
      tokenHash: sha256(accessToken),
      grantId: grant.id,
      clientId: grant.clientId,
      userId: grant.userId,
      upstreamSlug: grant.upstreamSlug,
      scope,
      expiresAt: now + ttl * 1000,
    };
    await this.accessTokens.insert({ ...info });
    await this.refreshTokens.insert({
      tokenHash: sha256(refreshToken),
      grantId: grant.id,
      createdAt: now,
      expiresAt: now + this.config.oauth.refresh_token_ttl * 1000,
      rotatedAt: null,
    });
    this.cache.set(info);
    return { access_token: accessToken, token_type: 'Bearer', expires_in: ttl, refresh_token: refreshToken, scope };
  }

  private rememberRotation(hash: string, grantId: string, response: TokenResponse): void {
    const now = Date.now();
    for (const [h, r] of this.recentRotations) if (r.until <= now) this.recentRotations.delete(h);
    const graceMs = this.config.oauth.refresh_grace_period * 1000;
    if (graceMs > 0) this.recentRotations.set(hash, { grantId, response, until: now + graceMs });
  }

  /**
   * A rotated refresh token came back. Within the grace window it is a concurrent
   * refresh or a retry after a lost response: answer with the same new pair.
   * After it, treat it as theft and end the grant (OAuth 2.1 §4.3.1, RFC 9700 §4.14.2).
   */
  private async onRotatedTokenUse(hash: string, grant: Grant, ip: string | null): Promise<TokenResponse> {
    const recent = this.recentRotations.get(hash);
    if (recent && recent.until > Date.now()) return recent.response;
    await this.revokeGrant(grant.id, 'refresh token reuse', ip);
    this.audit.record({ type: 'token.reuse', outcome: 'failure', ...who(grant), ip, detail: { grant_id: grant.id } });
    throw new InvalidGrant('refresh token was already used; the grant has been revoked');
  }

  private async onCodeReplay(row: AuthorizationCode, ip: string | null): Promise<void> {
    this.audit.record({ type: 'code.replay', outcome: 'failure', ...who(row), ip });
    if (row.grantId) await this.revokeGrant(row.grantId, 'authorization code replayed', ip);
  }

  /** RFC 8707 §2.2: a resource sent at the token endpoint must be the one the grant is bound to. */
  private checkResourceParam(params: Params, upstreamSlug: string): void {
    const resource = params.resource;
    if (resource === undefined) return;
    const target = typeof resource === 'string' ? this.upstreams.byResource(resource) : undefined;
    if (!target || target.slug !== upstreamSlug) {
      throw new InvalidTarget('resource does not match the resource this grant was issued for');
    }
  }

  private async purgeExpired(): Promise<void> {
    const now = Date.now();
    await this.codes.delete({ expiresAt: LessThan(now - 3600_000) });
    await this.accessTokens.delete({ expiresAt: LessThan(now) });
    await this.refreshTokens.delete({ expiresAt: LessThan(now) });
  }
}

function requireString(params: Params, name: string): string {
  const value = params[name];
  if (typeof value !== 'string' || !value) throw new InvalidRequest(`${name} is required`);
  return value;
}

/** RFC 6749 §6: a refresh may ask for fewer scopes, never more. */
function narrowScope(requested: unknown, granted: string): string {
  if (requested === undefined) return granted;
  if (typeof requested !== 'string') throw new InvalidScope('scope must be a string');
  if (!requested.trim()) return granted;
  const have = new Set(granted.split(' '));
  const want = requested.split(' ').filter(Boolean);
  const extra = want.filter((s) => !have.has(s));
  if (extra.length) throw new InvalidScope(`scope exceeds the original grant: ${extra.join(' ')}`);
  return want.join(' ');
}

function who(x: { userId: string; clientId: string; upstreamSlug: string }) {
  return { userId: x.userId, clientId: x.clientId, upstreamSlug: x.upstreamSlug };
}
