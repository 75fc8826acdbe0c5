import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { IsNull, Repository } from 'typeorm';
import { AuditRecord, AuditService } from '../../audit/audit.service';
import { sha256 } from '../../common/crypto';
import { ChangeFeed } from '../../database/change-feed';
import { Transactions } from '../../database/transactions';
import { AccessToken } from '../access-token.entity';
import { AuthorizationCode } from '../authorization-code.entity';
import { Grant } from '../grant.entity';
import { RefreshToken } from '../refresh-token.entity';
import { AccessTokenCache, AccessTokenInfo } from './access-token.cache';
import { CodeExchange, NewCode } from './code-exchange';
import { clientGrantStats, ClientGrantStats, GrantFilter, grantListQuery, GrantPage } from './grant-query';
import { EndedGrant, GrantOwner, GrantRevocation, Revocation } from './grant-revocation';
import { GrantLastUsed } from './last-used';
import { readLiveGrantCounts } from './live-grant-counts';
import { RefreshRotation, RefreshTokenLookup } from './refresh-rotation';
import { TokenResponse, who } from './token-pairs';

/**
 * The grants store: the only owner of grants, authorization codes and tokens. The OAuth endpoints
 * (authorize/, token/, revoke-introspect/), the proxy and the admin API go through it; nothing
 * else reads or writes those tables. Every change is one SQLite transaction with its audit rows.
 */
@Injectable()
export class GrantsService {
  constructor(
    @InjectRepository(Grant) private readonly grants: Repository<Grant>,
    @InjectRepository(AccessToken) private readonly accessTokens: Repository<AccessToken>,
    private readonly cache: AccessTokenCache,
    private readonly codes: CodeExchange,
    private readonly rotation: RefreshRotation,
    private readonly revocation: GrantRevocation,
    private readonly lastUsed: GrantLastUsed,
    private readonly audit: AuditService,
    private readonly transactions: Transactions,
    private readonly feed: ChangeFeed,
  ) {
    // An access token revoked on its own on another replica.
    feed.on('token.revoked', (hash) => cache.delete(hash));
  }

  // Codes (OAuth 2.1 §4.1).

  /** A single-use code for a consented authorization request; only its hash is stored. */
  issueCode(input: NewCode): Promise<string> {
    return this.codes.issue(input);
  }

  findCode(code: string): Promise<AuthorizationCode | null> {
    return this.codes.find(code);
  }

  /** Claims the code and creates its grant in one transaction; null when a concurrent exchange won the claim. */
  exchangeCode(row: AuthorizationCode, ip: string | null): Promise<TokenResponse | null> {
    return this.codes.exchange(row, ip);
  }

  /** A spent code was presented again: the grant it created is revoked with its tokens. */
  codeReplayed(row: AuthorizationCode, ip: string | null): Promise<void> {
    return this.codes.replayed(row, ip);
  }

  // Refresh tokens (OAuth 2.1 §4.3).

  findRefreshToken(token: string): Promise<RefreshTokenLookup> {
    return this.rotation.find(token);
  }

  /** The new pair for a refresh token that passed its checks (or, within the grace window, the same pair again). */
  rotateRefreshToken(token: string, row: RefreshToken, grant: Grant, scope: string, ip: string | null): Promise<TokenResponse> {
    return this.rotation.rotate(token, row, grant, scope, ip);
  }

  // Access tokens.

  /**
   * The token's details when it is a live access token; null otherwise. The proxy's hot path:
   * cached, and marking the grant used costs a Map lookup (grants/last-used.ts).
   */
  async verifyAccessToken(token: string): Promise<AccessTokenInfo | null> {
    const info = await this.lookupAccessToken(sha256(token));
    if (info) this.lastUsed.touch(info.grantId, Date.now());
    return info;
  }

  /** The token's details when it is a live access token, without counting as a use (introspection). */
  findAccessToken(token: string): Promise<AccessTokenInfo | null> {
    return this.lookupAccessToken(sha256(token));
  }

  /**
   * Whose token a refused bearer token was, when the gateway can still tell: an expired access
   * token not yet purged. Null for anything else (unknown, or deleted with its revoked grant).
   * Not the hot path: only for a token verifyAccessToken refused.
   */
  async expiredAccessTokenOwner(token: string): Promise<Pick<AccessToken, 'clientId' | 'userId' | 'upstreamSlug'> | null> {
    const row = await this.accessTokens.findOneBy({ tokenHash: sha256(token) });
    return row && row.expiresAt <= Date.now() ? { clientId: row.clientId, userId: row.userId, upstreamSlug: row.upstreamSlug } : null;
  }

  /** RFC 7009: revokes an access token on its own, or a refresh token together with its whole grant. `clientId` null: any client's. */
  async revokeToken(token: string, clientId: string | null, ip: string | null): Promise<void> {
    const hash = sha256(token);
    const access = await this.accessTokens.findOneBy({ tokenHash: hash });
    if (access && (!clientId || access.clientId === clientId)) {
      await this.transactions.run(async (tx) => {
        if (await tx.delete(this.accessTokens, { tokenHash: hash })) {
          await this.audit.recordIn(tx, { type: 'token.revoke', outcome: 'success', ...who(access), ip, detail: { token_type: 'access_token' } });
        }
      });
      this.cache.delete(hash);
      this.feed.publish('token.revoked', hash);
      return;
    }
    const { grant } = await this.rotation.find(token);
    if (grant && (!clientId || grant.clientId === clientId)) await this.revocation.revokeOne(grant.id, { reason: 'revoked by client', ip });
  }

  // Grants.

  findGrant(id: string): Promise<Grant | null> {
    return this.grants.findOneBy({ id });
  }

  /**
   * Ends one grant with its whole cascade: refresh family, access tokens (stored and cached),
   * open streams, and the user's upstream sign-in when it was their last grant there.
   * Returns the grant as it was; null when there is none.
   */
  revoke(grantId: string, revocation: Revocation): Promise<EndedGrant | null> {
    return this.revocation.revokeOne(grantId, revocation);
  }

  /** revoke() with positional arguments. `cause` is the audit row of what triggered it, written in the same transaction. */
  async revokeGrant(grantId: string, reason: string, ip: string | null = null, cause?: AuditRecord): Promise<void> {
    await this.revocation.revokeOne(grantId, { reason, ip, cause });
  }

  /** Ends every live grant of a user, a client or an upstream (and their codes not yet exchanged); how many ended. */
  async revokeAllFor(owner: GrantOwner, revocation: Revocation): Promise<number> {
    return (await this.revocation.revokeAll(owner, revocation)).length;
  }

  /** Calls listener(grantId) whenever a grant is revoked, after its tokens stopped working. */
  onGrantRevoked(listener: (grantId: string) => void): void {
    this.revocation.onGrantRevoked(listener);
  }

  /** A page of grants, newest first (keyset pagination: see grant-query.ts). */
  async listGrants(filter: GrantFilter, page: GrantPage): Promise<Grant[]> {
    await this.lastUsed.flush();
    return grantListQuery(this.grants, filter, page).getMany();
  }

  /** Live grants, last use and first grant per client: of these clients, or of every metadata document client. */
  async clientStats(clients: string[] | 'metadata documents'): Promise<ClientGrantStats[]> {
    await this.lastUsed.flush();
    return clientGrantStats(this.grants, clients);
  }

  /**
   * For the dashboard and /metrics (audit/active-grants-counter.ts): live grants and the users
   * holding them, as the triggers on grants keep them (live-grant-counts.ts): a read of one row
   * (PostgreSQL: a few), whatever the number of grants.
   */
  countActiveGrants(): Promise<{ grants: number; users: number }> {
    return readLiveGrantCounts(this.transactions);
  }

  /** How many grants of the owner are live (not revoked). */
  activeGrantCount(owner: GrantOwner): Promise<number> {
    return this.grants.countBy({ ...owner, revokedAt: IsNull() });
  }

  /** A live access token by hash: from the cache, else from SQLite (then cached). */
  private async lookupAccessToken(hash: string): Promise<AccessTokenInfo | null> {
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
}
