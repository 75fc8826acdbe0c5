import type { GroupWithCount } from '../identity/groups.service';
import type { UserRole } from '../identity/roles';
import type { User } from '../identity/user.entity';
import { FederatedIdentity } from '../identity/federation/federated-identity.entity';

/**
 * What the admin API shows of a user and a group. Built field by field, so a column added to an
 * entity (a password hash, say) never reaches a response by accident.
 */
export interface UserView {
  id: string;
  email: string;
  name: string | null;
  role: UserRole;
  /** 'invited': no password set yet (the invite link is open) and no account linked at an identity provider; 'disabled' wins over both others. */
  status: 'active' | 'invited' | 'disabled';
  disabled: boolean;
  passwordSet: boolean;
  createdAt: string;
  lastLoginAt: string | null;
}

export interface GroupView {
  id: string;
  name: string;
  memberCount: number;
  createdAt: string;
}

/** `federated`: whether the user has an account linked at an identity provider (see FederatedUsersService.linkedAmong). */
export function userView(u: User, links?: { federated?: boolean }): UserView {
  const federated = links?.federated === true;
  return {
    id: u.id,
    email: u.email,
    name: u.displayName,
    role: u.role,
    status: u.disabled ? 'disabled' : u.passwordHash || federated ? 'active' : 'invited',
    disabled: u.disabled,
    passwordSet: !!u.passwordHash,
    createdAt: iso(u.createdAt),
    lastLoginAt: u.lastLoginAt === null ? null : iso(u.lastLoginAt),
  };
}

/** A user's account at an identity provider (the user's page). */
export function identityView(i: FederatedIdentity) {
  return { provider: i.provider, subject: i.subject, email: i.email, linkedAt: iso(i.linkedAt), lastSignInAt: iso(i.lastSignInAt) };
}

export function groupView(g: GroupWithCount): GroupView {
  return { id: g.id, name: g.name, memberCount: g.memberCount, createdAt: iso(g.createdAt) };
}

export function iso(epochMs: number): string {
  return new Date(epochMs).toISOString();
}
