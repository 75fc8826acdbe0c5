import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import type { IDToken } from 'openid-client';
import { In, Repository } from 'typeorm';
import { AuditService } from '../../audit/audit.service';
import { GroupsService } from '../groups.service';
import { User } from '../user.entity';
import { UsersService } from '../users.service';
import { FederatedIdentity } from './federated-identity.entity';
import { IdentityProvider } from './identity-providers.service';

/** Why a sign-in through a provider was refused: the code goes to the audit row, the message to the page. */
export class FederatedSignInRefusal extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

/** Groups taken from one claim, at most: the claim is the provider's to fill, the gateway's memory and rows are not. */
const MAX_GROUPS = 200;
const MAX_GROUP_NAME = 200;

function disabledRefusal(): FederatedSignInRefusal {
  return new FederatedSignInRefusal('disabled', 'Your Gatehouse account is disabled. Ask your Gatehouse administrator.');
}

export function groupSource(providerId: string): string {
  return `oidc:${providerId}`;
}

/** The group names of the claim: an array of strings (Keycloak, Authentik, Entra) or one string; anything else is none. */
export function groupsFromClaim(value: unknown): string[] {
  const list = Array.isArray(value) ? value : typeof value === 'string' ? [value] : [];
  const names = list
    .filter((v): v is string => typeof v === 'string')
    .map((v) => v.trim())
    .filter((v) => v && v.length <= MAX_GROUP_NAME);
  return [...new Set(names)].slice(0, MAX_GROUPS);
}

/**
 * Turns a validated ID token into a gateway user: the account already linked to the provider's `sub`,
 * or the account with the same email (only when the provider says it verified the address), or a new
 * account when the provider allows it; then the groups of its claim.
 */
@Injectable()
export class FederatedUsersService {
  constructor(
    @InjectRepository(FederatedIdentity) private readonly identities: Repository<FederatedIdentity>,
    private readonly users: UsersService,
    private readonly groups: GroupsService,
    private readonly audit: AuditService,
  ) {}

  /** The signed-in user, or a FederatedSignInRefusal thrown. */
  async signIn(provider: IdentityProvider, claims: IDToken, ip: string | null): Promise<User> {
    const email = typeof claims.email === 'string' && claims.email.trim() ? claims.email.trim().toLowerCase().slice(0, 320) : null;
    // OIDC Core §5.1: a boolean; a few providers send the string.
    const emailVerified = claims.email_verified === true || claims.email_verified === 'true';
    if (provider.allowed_email_domains.length) {
      const domain = email?.split('@').pop() ?? '';
      if (!email || !provider.allowed_email_domains.some((d) => d.toLowerCase() === domain)) {
        throw new FederatedSignInRefusal('email_domain', `Accounts of ${email ? `the domain ${domain}` : 'no email address'} may not sign in through ${provider.name}.`);
      }
    }

    let identity = await this.identities.findOneBy({ provider: provider.id, subject: claims.sub });
    let user = identity ? await this.users.findById(identity.userId) : null;
    if (identity && !user) {
      // The account was deleted: the link goes with it, and the sign-in is judged afresh.
      await this.identities.delete({ provider: provider.id, subject: claims.sub });
      identity = null;
    }
    if (!user) {
      user = await this.accountFor(provider, email, emailVerified, claims);
      // A disabled account is not linked either.
      if (user.disabled) throw disabledRefusal();
      const now = Date.now();
      identity = this.identities.create({ provider: provider.id, subject: claims.sub, userId: user.id, email, linkedAt: now, lastSignInAt: now });
      await this.identities.upsert(identity, ['provider', 'subject']);
      await this.audit.recordNow({ type: 'identity.federated.link', outcome: 'success', userId: user.id, ip, detail: { provider: provider.id, email } });
    }
    if (user.disabled) throw disabledRefusal();

    await this.identities.update({ provider: provider.id, subject: claims.sub }, { email, lastSignInAt: Date.now() });
    await this.users.touchLogin(user.id);
    if (provider.groups_claim) await this.syncGroups(provider, user, claims[provider.groups_claim], ip);
    await this.audit.recordNow({ type: 'identity.federated.signin', outcome: 'success', userId: user.id, ip, detail: { provider: provider.id, email } });
    return user;
  }

  /** The accounts linked to the user at providers, for the user's page. */
  identitiesOf(userId: string): Promise<FederatedIdentity[]> {
    return this.identities.find({ where: { userId }, order: { provider: 'ASC' } });
  }

  /** Which of `userIds` have an account linked at a provider (one query; for lists of users). */
  async linkedAmong(userIds: string[]): Promise<Set<string>> {
    if (!userIds.length) return new Set();
    const rows = await this.identities.find({ select: { userId: true }, where: { userId: In(userIds) } });
    return new Set(rows.map((r) => r.userId));
  }

  /** Drops a deleted user's links. */
  async forgetUser(userId: string): Promise<void> {
    await this.identities.delete({ userId });
  }

  private async accountFor(provider: IdentityProvider, email: string | null, emailVerified: boolean, claims: IDToken): Promise<User> {
    if (!email) throw new FederatedSignInRefusal('no_email', `${provider.name} did not give an email address (ask for the "email" scope), so no Gatehouse account can be found.`);
    const existing = await this.users.findByEmail(email);
    if (existing) {
      // Linking by an address the provider did not verify would hand the account to whoever typed it there.
      if (!emailVerified) {
        throw new FederatedSignInRefusal(
          'email_not_verified',
          `${provider.name} has not verified the address ${email}, so it is not linked to the Gatehouse account with that email. Verify it at ${provider.name}, then sign in again.`,
        );
      }
      return existing;
    }
    if (provider.new_users !== 'create') {
      throw new FederatedSignInRefusal('not_invited', `There is no Gatehouse account for ${email}. Ask your Gatehouse administrator to invite you.`);
    }
    const name = typeof claims.name === 'string' ? claims.name.slice(0, 200) : null;
    try {
      return await this.users.create({ email, displayName: name });
    } catch {
      // Created meanwhile by a concurrent sign-in of the same person.
      const now = await this.users.findByEmail(email);
      if (now) return now;
      throw new FederatedSignInRefusal('create_failed', 'Your Gatehouse account could not be created. Try again.');
    }
  }

  private async syncGroups(provider: IdentityProvider, user: User, claim: unknown, ip: string | null): Promise<void> {
    const names = groupsFromClaim(claim);
    const sync = () => this.groups.syncSourced(user.id, groupSource(provider.id), names);
    // A concurrent sign-in may create the same new group first: the second try finds it.
    const result = await sync().catch(sync);
    if (result.added.length || result.removed.length || result.skipped.length) {
      await this.audit.recordNow({ type: 'identity.federated.groups', outcome: 'success', userId: user.id, ip, detail: { provider: provider.id, ...result } });
    }
  }
}
