import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { IsNull, Repository } from 'typeorm';
import { AuditRecord, AuditService } from '../../audit/audit.service';
import { randomToken, sha256 } from '../../common/crypto';
import { ConfigService } from '../../config/config.service';
import { Transactions } from '../../database/transactions';
import { AuthorizationCode } from '../authorization-code.entity';
import { Grant } from '../grant.entity';
import { AccessTokenCache } from './access-token.cache';
import { GrantRevocation } from './grant-revocation';
import { TokenPairs, TokenResponse, who } from './token-pairs';

export interface NewCode {
  clientId: string;
  userId: string;
  upstreamSlug: string;
  redirectUri: string;
  codeChallenge: string;
  scope: string;
}

/** Authorization codes: issued at /authorize, exchanged once for a new grant at /token (OAuth 2.1 §4.1). */
@Injectable()
export class CodeExchange {
  constructor(
    @InjectRepository(AuthorizationCode) private readonly codes: Repository<AuthorizationCode>,
    @InjectRepository(Grant) private readonly grants: Repository<Grant>,
    private readonly pairs: TokenPairs,
    private readonly cache: AccessTokenCache,
    private readonly revocation: GrantRevocation,
    private readonly audit: AuditService,
    private readonly transactions: Transactions,
    private readonly config: ConfigService,
  ) {}

  async issue(input: NewCode): Promise<string> {
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

  find(code: string): Promise<AuthorizationCode | null> {
    return this.codes.findOneBy({ codeHash: sha256(code) });
  }

  /**
   * Spends a code that passed its checks: ONE transaction claims the code and creates the grant
   * with its first token pair and audit row, so the code is spent exactly when the grant exists.
   * Null when a concurrent exchange claimed it first (the caller treats that as a replay).
   */
  async exchange(row: AuthorizationCode, ip: string | null): Promise<TokenResponse | null> {
    const now = Date.now();
    const grant = this.grants.create({
      id: randomUUID(),
      userId: row.userId,
      clientId: row.clientId,
      upstreamSlug: row.upstreamSlug,
      scope: row.scope,
      createdAt: now,
      lastUsedAt: null,
      revokedAt: null,
      revokedReason: null,
    });
    const pair = this.pairs.random();
    const info = await this.transactions.run(async (tx) => {
      // The claim: of two concurrent exchanges (on any replica) only one may win.
      if (!(await tx.update(this.codes, { codeHash: row.codeHash, usedAt: IsNull() }, { usedAt: now, grantId: grant.id }))) return null;
      await tx.insert(this.grants, grant);
      await this.audit.recordIn(tx, { type: 'token.issue', outcome: 'success', ...who(grant), ip, detail: { grant_id: grant.id } });
      return this.pairs.insertIn(tx, grant, grant.scope, pair, now);
    });
    if (!info) return null;
    this.cache.set(info);
    return this.pairs.freshResponse(pair, info);
  }

  /**
   * A spent code came back: revoke the grant its first exchange created, with its tokens
   * (OAuth 2.1 §4.1.3, RFC 9700 §4.5.3). The row is re-read: a concurrent exchange may just have set it.
   */
  async replayed(row: AuthorizationCode, ip: string | null): Promise<void> {
    const grantId = row.grantId ?? (await this.codes.findOneBy({ codeHash: row.codeHash }))?.grantId ?? null;
    const replay: AuditRecord = { type: 'code.replay', outcome: 'failure', ...who(row), ip };
    if (grantId) await this.revocation.revokeOne(grantId, { reason: 'authorization code replayed', ip, cause: replay });
    else await this.audit.recordNow(replay);
  }
}
