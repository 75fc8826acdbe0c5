import type { User } from './user.entity';

/**
 * The role stored in users.role:
 * - 'admin': manages the gateway (users, groups, upstreams, clients) through the admin API;
 * - 'auditor': reads what an admin reads (the admin API's GET routes), changes nothing;
 * - 'member': uses the gateway's MCP servers and sees their own access.
 */
export const USER_ROLES = ['admin', 'member', 'auditor'] as const;
export type UserRole = (typeof USER_ROLES)[number];

/** What a route may require: a stored role. Every signed-in user is a 'member' as well. */
export type Role = UserRole;

export function isUserRole(value: unknown): value is UserRole {
  return typeof value === 'string' && (USER_ROLES as readonly string[]).includes(value);
}

export function rolesOf(user: Pick<User, 'role'>): Role[] {
  return user.role === 'member' ? ['member'] : ['member', user.role];
}

export function hasRole(user: Pick<User, 'role'> | null | undefined, role: Role): boolean {
  return !!user && rolesOf(user).includes(role);
}
