import { User } from '../user.entity';
import { LocalAuthConfig } from './identity-provider.config';

/**
 * Whether `user` may sign in with a gateway password under `auth.local_passwords`. Once a team signs in
 * through its identity provider, passwords are a second way in that the provider's controls (MFA,
 * off-boarding) do not cover: admins_only or break_glass keeps one for emergencies only.
 */
export function mayUsePassword(policy: LocalAuthConfig, user: Pick<User, 'role' | 'email'>): boolean {
  if (policy.local_passwords === 'enabled') return true;
  if (policy.local_passwords === 'admins_only') return user.role === 'admin';
  return !!policy.break_glass_email && user.email === policy.break_glass_email.trim().toLowerCase();
}
