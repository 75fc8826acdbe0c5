import { Injectable } from '@nestjs/common';
import type { AuditVerb } from '../audit/audit-event-type';
import { AuditRecord, AuditService } from '../audit/audit.service';
import { conflict } from '../common/api-errors';
import { Actor } from '../identity/actor';
import { FederatedIdentity } from '../identity/federation/federated-identity.entity';
import { FederatedUsersService } from '../identity/federation/federated-users.service';
import { GroupsService } from '../identity/groups.service';
import { IssuedLink } from '../identity/invites.service';
import { LoginSessionService } from '../identity/login-session.service';
import { UserRole } from '../identity/roles';
import { User } from '../identity/user.entity';
import { UsersService } from '../identity/users.service';
import { GrantsService } from '../oauth/grants/grants.service';

/**
 * Admin actions on users that span modules: an account (identity), its sign-in sessions, its
 * OAuth grants and open streams (oauth, proxy) and its groups. Every action writes one audit row
 * `admin.user.<verb>` naming the admin (userId) and the target (detail.target_user), never a
 * link or a password.
 */
@Injectable()
export class UserAdminService {
  constructor(
    private readonly users: UsersService,
    private readonly sessions: LoginSessionService,
    private readonly groups: GroupsService,
    private readonly grants: GrantsService,
    private readonly audit: AuditService,
    private readonly federated: FederatedUsersService,
  ) {}

  async create(input: { email: string; name?: string; role?: UserRole }, actor: Actor): Promise<{ user: User; link: IssuedLink }> {
    const created = await this.users.invite(input);
    this.record(actor, 'create', created.user, { role: created.user.role });
    return created;
  }

  /** A new link to set a password; the old password, links and sessions stop working at once. */
  async resetPassword(id: string, actor: Actor): Promise<IssuedLink> {
    const user = await this.users.require(id);
    const link = await this.users.issuePasswordLink(id);
    await this.sessions.endAllFor(id);
    this.record(actor, 'reset_password', user, { link: link.purpose });
    return link;
  }

  async update(id: string, changes: { name?: string | null; role?: UserRole }, actor: Actor): Promise<User> {
    const user = await this.users.require(id);
    if (changes.role !== undefined && changes.role !== user.role) {
      if (id === actor.userId && user.role === 'admin') throw conflict('you cannot take the admin role from yourself; ask another admin');
      await this.users.setRole(id, changes.role);
      this.record(actor, 'role', user, { from: user.role, to: changes.role });
    }
    if (changes.name !== undefined && changes.name !== user.displayName) {
      await this.users.rename(id, changes.name);
      this.record(actor, 'rename', user, {});
    }
    return this.users.require(id);
  }

  /**
   * Signing in, the proxy and every grant end at once: the account is disabled (the proxy checks
   * that per request), its grants are revoked (their tokens fail, their open streams are cut)
   * and its sign-in sessions are deleted.
   */
  async disable(id: string, actor: Actor): Promise<{ user: User; grantsRevoked: number }> {
    const user = await this.users.require(id);
    if (id === actor.userId) throw conflict('you cannot disable your own account');
    await this.users.disable(id);
    const grantsRevoked = await this.grants.revokeAllFor({ userId: id }, { reason: 'user disabled by an admin', ip: actor.ip });
    await this.sessions.endAllFor(id);
    this.record(actor, 'disable', user, { grants_revoked: grantsRevoked });
    return { user: await this.users.require(id), grantsRevoked };
  }

  /** Lets the user sign in again; their old grants stay revoked (clients authorize anew). */
  async enable(id: string, actor: Actor): Promise<User> {
    const user = await this.users.require(id);
    await this.users.setDisabled(id, false);
    this.record(actor, 'enable', user, {});
    return this.users.require(id);
  }

  async delete(id: string, actor: Actor): Promise<void> {
    const user = await this.users.require(id);
    if (id === actor.userId) throw conflict('you cannot delete your own account');
    await this.users.delete(id);
    const grantsRevoked = await this.grants.revokeAllFor({ userId: id }, { reason: 'user deleted by an admin', ip: actor.ip });
    await this.sessions.endAllFor(id);
    await this.groups.forgetUser(id);
    await this.federated.forgetUser(id);
    this.record(actor, 'delete', user, { grants_revoked: grantsRevoked });
  }

  /** The user with their groups (and where each comes from), their accounts at identity providers, and how many grants they hold. */
  async detail(id: string): Promise<{ user: User; groups: Array<{ id: string; name: string; source?: string }>; identities: FederatedIdentity[]; activeGrants: number }> {
    const user = await this.users.require(id);
    // `source` only for groups kept in sync from an identity provider (`oidc:{provider}`).
    const groups = (await this.groups.groupsOf(id)).map((g) => ({ id: g.id, name: g.name, ...(g.source ? { source: g.source } : {}) }));
    return { user, groups, identities: await this.federated.identitiesOf(id), activeGrants: await this.grants.activeGrantCount({ userId: id }) };
  }

  private record(actor: Actor, verb: AuditVerb<'admin.user'>, target: User, detail: Record<string, unknown>): void {
    const event: AuditRecord = {
      type: `admin.user.${verb}`,
      outcome: 'success',
      userId: actor.userId,
      ip: actor.ip,
      detail: { target_user: target.id, email: target.email, ...detail },
    };
    this.audit.record(event);
  }
}
