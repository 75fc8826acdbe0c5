import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { IsNull, Repository } from 'typeorm';
import { AuditRecord, AuditService } from '../../audit/audit.service';
import { randomToken, sha256 } from '../../common/crypto';
import { ConfigService } from '../../config/config.service';
import { Transactions } from '../../database/transactions';
import { AccessToken } from '../access-token.entity';
import { Grant } from '../grant.entity';
import { InvalidGrant } from '../oauth.errors';
import { RefreshToken } from '../refresh-token.entity';
import { AccessTokenCache } from './access-token.cache';
import { GrantRevocation } from './grant-revocation';
import { TokenPairs, TokenResponse, who } from './token-pairs';

/** A refresh token with the grant it belongs to; either is null when unknown. */
export interface RefreshTokenLookup {
  row: RefreshToken | null;
  grant: Grant | null;
}

/**
 * Refresh tokens rotate on every use (OAuth 2.1 §4.3.1). A rotated token presented again within
 * the grace window (oauth.refresh_grace_period) gets the same new pair again: a concurrent refresh
 * or a retry after a lost response, even across a restart. After the window it is theft: the
 * whole grant ends (RFC 9700 §4.14.2).
 */
@Injectable()
export class RefreshRotation {
  constructor(
    @InjectRepository(Grant) private readonly grants: Repository<Grant>,
    @InjectRepository(RefreshToken) private readonly refreshTokens: Repository<RefreshToken>,
    @InjectRepository(AccessToken) private readonly accessTokens: Repository<AccessToken>,
    private readonly pairs: TokenPairs,
    private readonly cache: AccessTokenCache,
    private readonly revocation: GrantRevocation,
    private readonly audit: AuditService,
    private readonly transactions: Transactions,
    private readonly config: ConfigService,
  ) {}

  async find(token: string): Promise<RefreshTokenLookup> {
    const row = await this.refreshTokens.findOneBy({ tokenHash: sha256(token) });
    const grant = row ? await this.grants.findOneBy({ id: row.grantId }) : null;
    return { row, grant };
  }

  /** Rotates a refresh token that passed its checks into a new pair with `scope` (the grant's, or narrower). */
  async rotate(token: string, row: RefreshToken, grant: Grant, scope: string, ip: string | null): Promise<TokenResponse> {
    if (row.rotatedAt) return this.rotatedTokenUsed(token, row, grant, ip);
    const now = Date.now();
    const hash = row.tokenHash;
    // With a grace window, the new pair is derived from the old token and a stored random nonce,
    // so a retry can be answered with the same pair after a restart; only hashes are stored.
    const nonce = randomToken(16);
    const pair = this.pairs.rotated(token, nonce);
    const graceOn = this.config.oauth.refresh_grace_period > 0;
    // One transaction: the old token is marked rotated exactly when the new pair exists.
    const info = await this.transactions.run(async (tx) => {
      // Re-checked here: a revocation may have committed since the grant was read.
      if (!(await tx.find(this.grants, { id: grant.id, revokedAt: IsNull() }, ['id'])).length) return 'revoked';
      const claimed = await tx.update(this.refreshTokens, { tokenHash: hash, rotatedAt: IsNull() }, { rotatedAt: now, rotationNonce: graceOn ? nonce : null });
      if (!claimed) return null;
      await this.audit.recordIn(tx, { type: 'token.refresh', outcome: 'success', ...who(grant), ip, detail: { grant_id: grant.id } });
      return this.pairs.insertIn(tx, grant, scope, pair, now);
    });
    if (info === 'revoked') throw new InvalidGrant('refresh token has been revoked');
    if (!info) {
      // A concurrent refresh of the same token won the claim: answer as its retry.
      const rotated = await this.refreshTokens.findOneBy({ tokenHash: hash });
      if (!rotated) throw new InvalidGrant('refresh token is invalid');
      return this.rotatedTokenUsed(token, rotated, grant, ip);
    }
    this.cache.set(info);
    return this.pairs.freshResponse(pair, info);
  }

  /**
   * A rotated refresh token came back. Within the grace window: answer with the same new pair,
   * re-derived from what the rotation stored. After it: end the grant.
   */
  private async rotatedTokenUsed(token: string, row: RefreshToken, grant: Grant, ip: string | null): Promise<TokenResponse> {
    const graceMs = this.config.oauth.refresh_grace_period * 1000;
    if (row.rotatedAt && row.rotationNonce && row.rotatedAt + graceMs > Date.now()) {
      const pair = this.pairs.rotated(token, row.rotationNonce);
      const [next, access] = await Promise.all([
        this.refreshTokens.findOneBy({ tokenHash: sha256(pair.refreshToken) }),
        this.accessTokens.findOneBy({ tokenHash: sha256(pair.accessToken) }),
      ]);
      if (next?.grantId === grant.id && access) return this.pairs.response(pair, access);
      // The pair is gone (its access token was revoked on its own) or the master key changed since:
      // it cannot be answered again, but inside the window this is no sign of theft.
      throw new InvalidGrant('refresh token was already used');
    }
    const reuse: AuditRecord = { type: 'token.reuse', outcome: 'failure', ...who(grant), ip, detail: { grant_id: grant.id } };
    await this.revocation.revokeOne(grant.id, { reason: 'refresh token reuse', ip, cause: reuse });
    throw new InvalidGrant('refresh token was already used; the grant has been revoked');
  }
}
