import { User } from './user.entity';

/**
 * What a signed-in user may do. Every user is a 'member'; 'admin' is today's users.is_admin.
 * The admin console will store roles in their own column (and add e.g. 'auditor'); only rolesOf changes then.
 */
export type Role = 'admin' | 'member';

export function rolesOf(user: Pick<User, 'isAdmin'>): Role[] {
  return user.isAdmin ? ['member', 'admin'] : ['member'];
}

export function hasRole(user: Pick<User, 'isAdmin'> | null | undefined, role: Role): boolean {
  return !!user && rolesOf(user).includes(role);
}
