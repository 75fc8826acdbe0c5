import { Injectable } from '@nestjs/common';
import { GroupsService } from '../identity/groups.service';
import { UsersService } from '../identity/users.service';
import { allowListIsOpen, Upstream } from './upstream';

/** Who may use which upstream: the per-upstream allow-list of users, emails, email domains and groups. */
@Injectable()
export class AccessPolicyService {
  constructor(
    private readonly users: UsersService,
    private readonly groups: GroupsService,
  ) {}

  async allows(upstream: Upstream, userId: string): Promise<boolean> {
    const profile = await this.users.profile(userId);
    if (!profile || profile.disabled) return false;
    const allow = upstream.allow;
    if (allowListIsOpen(allow)) return true;
    const email = profile.email;
    if (allow.users.includes(userId) || allow.users.includes(email) || allow.emails.includes(email)) return true;
    if (allow.emailDomains.includes(email.slice(email.lastIndexOf('@') + 1))) return true;
    if (!allow.groups.length) return false;
    const mine = await this.groups.namesFor(userId);
    return allow.groups.some((g) => mine.includes(g));
  }
}
