import { Injectable, Logger } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { In, IsNull, Repository } from 'typeorm';
import type { AuditEventType } from '../../audit/audit-event-type';
import { AuditRecord, AuditService } from '../../audit/audit.service';
import { ChangeFeed } from '../../database/change-feed';
import { Transactions, Tx } from '../../database/transactions';
import { Actor } from '../../identity/actor';
import { AuthModesService } from '../../upstreams/auth-modes';
import { UpstreamsService } from '../../upstreams/upstreams.service';
import { AccessToken } from '../access-token.entity';
import { AuthorizationCode } from '../authorization-code.entity';
import { ConsentService } from '../consent.service';
import { Grant } from '../grant.entity';
import { AccessTokenCache } from './access-token.cache';
import { who } from './token-pairs';

/** Whose grants: every grant of one user, of one client, or at one upstream. */
export type GrantOwner = { userId: string } | { clientId: string } | { upstreamSlug: string };

/** The columns of a grant that its revocation needs. */
export type EndedGrant = Pick<Grant, 'id' | 'userId' | 'clientId' | 'upstreamSlug'>;

export interface Revocation {
  /** Stored on the grant and in its `grant.revoke` audit row. */
  reason: string;
  ip?: string | null;
  /**
   * The audit row of what caused it (an admin action, a replayed code), written first in the same
   * transaction; a function gets the grants that ended (e.g. to count them).
   */
  cause?: AuditRecord | ((ended: EndedGrant[]) => AuditRecord);
  /**
   * Also forget the remembered consent of each (user, client, upstream), so the client cannot
   * come back without the user approving again. For revocations made by people in the console.
   */
  forgetConsent?: boolean;
  /** More writes of the same transaction (e.g. deleting the client itself). */
  alsoIn?: (tx: Tx) => Promise<unknown>;
}

/**
 * A revocation made by an admin in the console: its audit row `type` names the admin (userId) and
 * the target (`detail`, with how many grants ended), written in the revocation's transaction; the
 * consents go too, so the client cannot come back without the user approving again.
 */
export function revokedByAdmin(actor: Actor, type: AuditEventType, target: Record<string, unknown>): Revocation {
  return {
    reason: 'revoked by an admin',
    ip: actor.ip,
    forgetConsent: true,
    cause: (ended) => ({ type, outcome: 'success', userId: actor.userId, ip: actor.ip, detail: { ...target, grants_revoked: ended.length } }),
  };
}

/** Batches of ids per IN (…) list: well under SQLite's limit on bound parameters. */
const BATCH = 500;

/**
 * The cascade of ending grants, in one transaction with its audit rows: the grants are marked
 * revoked (their refresh tokens stop working) and their access tokens deleted; then the cached
 * access tokens are dropped and listeners told (the proxy cuts the grants' open streams), and
 * where no live grant of the user remains at an upstream, the upstream's auth mode forgets what
 * it kept for that user's grants (e.g. the upstream OAuth tokens).
 */
@Injectable()
export class GrantRevocation {
  private readonly logger = new Logger('Grants');
  private readonly listeners: Array<(grantId: string) => void> = [];

  constructor(
    @InjectRepository(Grant) private readonly grants: Repository<Grant>,
    @InjectRepository(AccessToken) private readonly accessTokens: Repository<AccessToken>,
    @InjectRepository(AuthorizationCode) private readonly codes: Repository<AuthorizationCode>,
    private readonly consents: ConsentService,
    private readonly cache: AccessTokenCache,
    private readonly upstreams: UpstreamsService,
    private readonly authModes: AuthModesService,
    private readonly audit: AuditService,
    private readonly transactions: Transactions,
    private readonly feed: ChangeFeed,
  ) {
    // Grants revoked on another replica: their cached tokens go and their open streams here are cut.
    feed.on('grants.revoked', (ids) => this.forget(new Set(ids)));
    feed.onResync(() => cache.clear());
  }

  /** Calls listener(grantId) whenever a grant is revoked (here or on another replica), after its tokens stopped working. */
  onGrantRevoked(listener: (grantId: string) => void): void {
    this.listeners.push(listener);
  }

  /** Ends one grant; the grant as it was before, null when there is no such grant. A revoked grant stays as it is. */
  async revokeOne(grantId: string, revocation: Revocation): Promise<(EndedGrant & Pick<Grant, 'revokedAt'>) | null> {
    const found: { grant: (EndedGrant & Pick<Grant, 'revokedAt'>) | null } = { grant: null };
    await this.run(revocation, async (tx) => {
      found.grant = (await tx.find(this.grants, { id: grantId }, ['id', 'userId', 'clientId', 'upstreamSlug', 'revokedAt']))[0] ?? null;
      return found.grant && found.grant.revokedAt === null ? [found.grant] : [];
    });
    return found.grant;
  }

  /**
   * Ends every live grant of the owner, and deletes its codes not yet exchanged so none becomes a
   * new grant. Returns the grants that ended.
   */
  revokeAll(owner: GrantOwner, revocation: Revocation): Promise<EndedGrant[]> {
    return this.run(revocation, async (tx) => {
      await tx.delete(this.codes, { ...owner, usedAt: IsNull() });
      return tx.find(this.grants, { ...owner, revokedAt: IsNull() }, ['id', 'userId', 'clientId', 'upstreamSlug']);
    });
  }

  /** One transaction: pick the grants, write the cause, end them (with their audit rows), then the after-effects. */
  private async run(revocation: Revocation, pick: (tx: Tx) => Promise<EndedGrant[]>): Promise<EndedGrant[]> {
    const { reason, ip = null } = revocation;
    const ended = await this.transactions.run(async (tx) => {
      const live = (await pick(tx)).map(({ id, userId, clientId, upstreamSlug }) => ({ id, userId, clientId, upstreamSlug }));
      const cause = typeof revocation.cause === 'function' ? revocation.cause(live) : revocation.cause;
      if (cause) await this.audit.recordIn(tx, cause);
      const now = Date.now();
      for (let i = 0; i < live.length; i += BATCH) {
        const ids = live.slice(i, i + BATCH).map((g) => g.id);
        await tx.update(this.grants, { id: In(ids), revokedAt: IsNull() }, { revokedAt: now, revokedReason: reason });
        await tx.delete(this.accessTokens, { grantId: In(ids) });
      }
      for (const grant of live) {
        await this.audit.recordIn(tx, { type: 'grant.revoke', outcome: 'success', ...who(grant), ip, detail: { grant_id: grant.id, reason } });
        if (revocation.forgetConsent) await this.consents.forgetIn(tx, who(grant));
      }
      await revocation.alsoIn?.(tx);
      return live;
    });
    if (ended.length) {
      const ids = new Set(ended.map((g) => g.id));
      this.feed.publish('grants.revoked', [...ids]);
      this.forget(ids);
      await this.afterLastGrants(ended);
    }
    return ended;
  }

  private forget(ids: ReadonlySet<string>): void {
    this.cache.deleteWhere((info) => ids.has(info.grantId));
    for (const id of ids) for (const listener of this.listeners) listener(id);
  }

  /**
   * Where a user has no live grant left at an upstream, its auth mode forgets what it kept for
   * their grants (mode "oauth": the user's upstream tokens; typed credentials stay, the user
   * manages those). A failure here is logged: the grants have ended either way.
   */
  private async afterLastGrants(ended: EndedGrant[]): Promise<void> {
    const pairs = new Map(ended.map((g) => [`${g.userId}\0${g.upstreamSlug}`, g]));
    for (const { userId, upstreamSlug } of pairs.values()) {
      const upstream = this.upstreams.get(upstreamSlug);
      const strategy = upstream ? this.authModes.for(upstream) : undefined;
      if (!upstream || !strategy?.onLastGrantEnded) continue;
      try {
        if (await this.grants.existsBy({ userId, upstreamSlug, revokedAt: IsNull() })) continue;
        await strategy.onLastGrantEnded(upstream, userId);
      } catch (err) {
        this.logger.error(`could not forget the upstream sign-in of a user at ${upstreamSlug}: ${(err as Error).message}`);
      }
    }
  }
}
