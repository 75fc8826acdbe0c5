import { createHmac, randomUUID } from 'node:crypto';
import { Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { IsNull, LessThan, Not, Repository } from 'typeorm';
import { AuditRecord, AuditService } from '../audit/audit.service';
import { randomToken, sha256 } from '../common/crypto';
import { ConfigService } from '../config/config.service';
import { Transactions, Tx } from '../database/transactions';
import { UpstreamsService } from '../upstreams/upstreams.service';
import { VaultService } from '../vault/vault.service';
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

interface TokenPair {
  accessToken: string;
  refreshToken: string;
}

const PURGE_EVERY_MS = 10 * 60_000;

@Injectable()
export class TokensService implements OnModuleInit, OnModuleDestroy {
  private readonly cache = new AccessTokenCache();
  private rotationKey: Buffer | null = null;
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
    private readonly transactions: Transactions,
    private readonly vault: VaultService,
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

    const now = Date.now();
    const grant = this.grants.create({
      id: randomUUID(),
      userId: row.userId,
      clientId: row.clientId,
      upstreamSlug: row.upstreamSlug,
      scope: row.scope,
      createdAt: now,
      revokedAt: null,
      revokedReason: null,
    });
    const pair = { accessToken: randomToken(), refreshToken: randomToken() };
    // One transaction: the code is spent exactly when the grant and its tokens exist.
    const info = this.transactions.run((tx) => {
      // The claim: of two concurrent exchanges only one may win.
      if (!tx.update(this.codes, { codeHash: row.codeHash, usedAt: IsNull() }, { usedAt: now, grantId: grant.id })) return null;
      tx.insert(this.grants, grant);
      this.audit.recordIn(tx, { type: 'token.issue', outcome: 'success', ...who(grant), ip, detail: { grant_id: grant.id } });
      return this.insertPair(tx, grant, grant.scope, pair, now);
    });
    if (!info) {
      await this.onCodeReplay({ ...row, grantId: (await this.codes.findOneBy({ codeHash: row.codeHash }))?.grantId ?? null }, ip);
      throw new InvalidGrant('authorization code was already used');
    }
    this.cache.set(info);
    return this.responseFor(pair, info, this.config.oauth.access_token_ttl);
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

    if (row.rotatedAt) return this.onRotatedTokenUse(token, row, grant, ip);
    const now = Date.now();
    // With a grace window, the new pair is derived from the old token and a stored random nonce,
    // so a retry can be answered with the same pair after a restart; only hashes are stored.
    const nonce = randomToken(16);
    const pair = this.rotatedPair(token, nonce);
    const graceOn = this.config.oauth.refresh_grace_period > 0;
    // One transaction: the old token is marked rotated exactly when the new pair exists.
    const info = this.transactions.run((tx) => {
      // Re-checked here: a revocation may have committed since the grant was read above.
      if (!tx.find(this.grants, { id: grant.id, revokedAt: IsNull() }, ['id']).length) return 'revoked';
      const claimed = tx.update(this.refreshTokens, { tokenHash: hash, rotatedAt: IsNull() }, { rotatedAt: now, rotationNonce: graceOn ? nonce : null });
      if (!claimed) return null;
      this.audit.recordIn(tx, { type: 'token.refresh', outcome: 'success', ...who(grant), ip, detail: { grant_id: grant.id } });
      return this.insertPair(tx, grant, scope, pair, now);
    });
    if (info === 'revoked') throw new InvalidGrant('refresh token has been revoked');
    if (!info) {
      // A concurrent refresh of the same token won the claim: answer as its retry.
      const rotated = await this.refreshTokens.findOneBy({ tokenHash: hash });
      if (!rotated) throw new InvalidGrant('refresh token is invalid');
      return this.onRotatedTokenUse(token, rotated, grant, ip);
    }
    this.cache.set(info);
    return this.responseFor(pair, info, this.config.oauth.access_token_ttl);
  }

  /** RFC 7009: revokes an access token, or a refresh token together with its whole grant. */
  async revoke(client: OAuthClient | null, token: string, ip: string | null): Promise<void> {
    const hash = sha256(token);
    const access = await this.accessTokens.findOneBy({ tokenHash: hash });
    if (access && (!client || access.clientId === client.clientId)) {
      this.transactions.run((tx) => {
        if (tx.delete(this.accessTokens, { tokenHash: hash })) {
          this.audit.recordIn(tx, { type: 'token.revoke', outcome: 'success', ...who(access), ip, detail: { token_type: 'access_token' } });
        }
      });
      this.cache.delete(hash);
      return;
    }
    const refresh = await this.refreshTokens.findOneBy({ tokenHash: hash });
    const grant = refresh ? await this.grants.findOneBy({ id: refresh.grantId }) : null;
    if (grant && (!client || grant.clientId === client.clientId)) {
      await this.revokeGrant(grant.id, 'revoked by client', ip);
    }
  }

  /**
   * Ends a grant: its refresh tokens stop working and its access tokens are deleted at once.
   * `cause` is the audit row of what triggered it, written in the same transaction.
   */
  async revokeGrant(grantId: string, reason: string, ip: string | null = null, cause?: AuditRecord): Promise<void> {
    const grant = await this.grants.findOneBy({ id: grantId });
    this.transactions.run((tx) => {
      if (cause) this.audit.recordIn(tx, cause);
      const revoked = tx.update(this.grants, { id: grantId, revokedAt: IsNull() }, { revokedAt: Date.now(), revokedReason: reason });
      tx.delete(this.accessTokens, { grantId });
      if (revoked && grant) this.audit.recordIn(tx, { type: 'grant.revoke', outcome: 'success', ...who(grant), ip, detail: { grant_id: grantId, reason } });
    });
    this.cache.deleteWhere((info) => info.grantId === grantId);
    for (const listener of this.grantRevokedListeners) listener(grantId);
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

  /** Inserts the pair's rows (hashes only) in the caller's transaction; returns what the access-token cache holds. */
  private insertPair(tx: Tx, grant: Grant, scope: string, pair: TokenPair, now: number): AccessTokenInfo {
    const info: AccessTokenInfo = {
      tokenHash: sha256(pair.accessToken),
      grantId: grant.id,
      clientId: grant.clientId,
      userId: grant.userId,
      upstreamSlug: grant.upstreamSlug,
      scope,
      expiresAt: now + this.config.oauth.access_token_ttl * 1000,
    };
    tx.insert(this.accessTokens, { ...info });
    tx.insert(this.refreshTokens, {
      tokenHash: sha256(pair.refreshToken),
      grantId: grant.id,
      createdAt: now,
      expiresAt: now + this.config.oauth.refresh_token_ttl * 1000,
      rotatedAt: null,
      rotationNonce: null,
    });
    return info;
  }

  /** expires_in defaults to the access token's remaining lifetime (a repeated answer is sent later than the first). */
  private responseFor(pair: TokenPair, access: { scope: string; expiresAt: number }, expiresIn = Math.max(0, Math.floor((access.expiresAt - Date.now()) / 1000))): TokenResponse {
    return { access_token: pair.accessToken, token_type: 'Bearer', expires_in: expiresIn, refresh_token: pair.refreshToken, scope: access.scope };
  }

  /**
   * The pair a refresh token rotates into: HMAC-SHA256 under a key derived from the vault's master
   * key, of the old token and a random nonce. Re-derivable only by whoever presents the old token
   * while the nonce is stored (the grace window); without the key, neither the database nor an old
   * token predicts it.
   */
  private rotatedPair(oldRefreshToken: string, nonce: string): TokenPair {
    this.rotationKey ??= this.vault.deriveKey('refresh-rotation');
    const mac = (label: string) => createHmac('sha256', this.rotationKey!).update(`${label}\0${nonce}\0${oldRefreshToken}`).digest('base64url');
    return { accessToken: mac('access'), refreshToken: mac('refresh') };
  }

  /**
   * A rotated refresh token came back. Within the grace window it is a concurrent refresh or a
   * retry after a lost response (or a crash): answer with the same new pair, re-derived from what
   * the rotation stored. After it, treat it as theft and end the grant (OAuth 2.1 §4.3.1, RFC 9700 §4.14.2).
   */
  private async onRotatedTokenUse(token: string, row: RefreshToken, grant: Grant, ip: string | null): Promise<TokenResponse> {
    const graceMs = this.config.oauth.refresh_grace_period * 1000;
    if (row.rotatedAt && row.rotationNonce && row.rotatedAt + graceMs > Date.now()) {
      const pair = this.rotatedPair(token, row.rotationNonce);
      const [next, access] = await Promise.all([
        this.refreshTokens.findOneBy({ tokenHash: sha256(pair.refreshToken) }),
        this.accessTokens.findOneBy({ tokenHash: sha256(pair.accessToken) }),
      ]);
      if (next?.grantId === grant.id && access) return this.responseFor(pair, access);
      // The pair is gone (its access token was revoked on its own) or the master key changed since:
      // it cannot be answered again, but inside the window this is no sign of theft.
      throw new InvalidGrant('refresh token was already used');
    }
    await this.revokeGrant(grant.id, 'refresh token reuse', ip, { type: 'token.reuse', outcome: 'failure', ...who(grant), ip, detail: { grant_id: grant.id } });
    throw new InvalidGrant('refresh token was already used; the grant has been revoked');
  }

  private async onCodeReplay(row: AuthorizationCode, ip: string | null): Promise<void> {
    const replay: AuditRecord = { type: 'code.replay', outcome: 'failure', ...who(row), ip };
    if (row.grantId) await this.revokeGrant(row.grantId, 'authorization code replayed', ip, replay);
    else this.audit.recordNow(replay);
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
    // Past the grace window a rotated token can no longer be answered: drop what would re-derive its pair.
    const graceEnd = now - this.config.oauth.refresh_grace_period * 1000;
    await this.refreshTokens.update({ rotatedAt: LessThan(graceEnd), rotationNonce: Not(IsNull()) }, { rotationNonce: null });
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
