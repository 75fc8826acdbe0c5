import { Injectable } from '@nestjs/common';
import type { AuditVerb } from '../audit/audit-event-type';
import { AuditService } from '../audit/audit.service';
import { conflict } from '../common/api-errors';
import { Actor } from '../identity/actor';
import { GroupsService, GroupWithCount } from '../identity/groups.service';
import { UsersService } from '../identity/users.service';
import { UpstreamsService } from '../upstreams/upstreams.service';
import { ToolPolicyService } from '../tool-policy/tool-policy.service';

/**
 * Admin actions on groups. Upstream allow-lists name groups (config.yaml does too), so a rename
 * carries the new name into every allow-list, and a group an allow-list still names cannot be
 * deleted (a later group of the same name would inherit its access). Every action writes one
 * audit row `admin.group.<verb>` naming the admin and the group.
 */
@Injectable()
export class GroupAdminService {
  constructor(
    private readonly groups: GroupsService,
    private readonly users: UsersService,
    private readonly upstreams: UpstreamsService,
    private readonly audit: AuditService,
    private readonly toolPolicy: ToolPolicyService,
  ) {}

  async create(name: string, actor: Actor): Promise<GroupWithCount> {
    const group = await this.groups.create(name);
    this.record(actor, 'create', group, {});
    return group;
  }

  /**
   * Renames the group and every allow-list entry naming it, so its members keep their access.
   * Warns about upstreams from config.yaml: the file still has the old name and wins at the next start.
   */
  async rename(id: string, name: string, actor: Actor): Promise<{ group: GroupWithCount; warnings: string[] }> {
    const from = await this.groups.rename(id, name);
    const group = await this.groups.require(id);
    if (from === name) return { group, warnings: [] };
    const changed = await this.upstreams.renameGroupInAllowLists(from, name);
    const toolRules = await this.toolPolicy.renameGroup(from, name);
    this.record(actor, 'rename', group, { from, to: name, allow_lists: changed.map((u) => u.slug), tool_rules: toolRules.map((u) => u.slug) });
    const warnings = [
      ...changed
        .filter((u) => u.source === 'config')
        .map((u) => `upstream "${u.slug}" comes from config.yaml: change "${from}" to "${name}" in its allow.groups before the next start`),
      ...toolRules
        .filter((u) => u.source === 'config')
        .map((u) => `upstream "${u.slug}" comes from config.yaml: change "${from}" to "${name}" in its tools.rules before the next start`),
    ];
    return { group, warnings };
  }

  async delete(id: string, actor: Actor): Promise<void> {
    const group = await this.groups.require(id);
    const referenced = await this.upstreams.groupReferences(group.name);
    if (referenced.length) {
      const slugs = referenced.map((u) => `"${u.slug}"`).join(', ');
      throw conflict(`the allow-list of ${slugs} names this group; remove it there first`);
    }
    await this.groups.delete(id);
    this.record(actor, 'delete', group, {});
  }

  async addMember(id: string, userId: string, actor: Actor): Promise<void> {
    const group = await this.groups.require(id);
    const user = await this.users.require(userId);
    const added = await this.groups.addMemberById(id, user.id);
    this.record(actor, 'member.add', group, { target_user: user.id, email: user.email, changed: added });
  }

  async removeMember(id: string, userId: string, actor: Actor): Promise<void> {
    const group = await this.groups.require(id);
    const user = await this.users.require(userId);
    const removed = await this.groups.removeMemberById(id, user.id);
    this.record(actor, 'member.remove', group, { target_user: user.id, email: user.email, changed: removed });
  }

  private record(actor: Actor, verb: AuditVerb<'admin.group'>, group: { id: string; name: string }, detail: Record<string, unknown>): void {
    this.audit.record({
      type: `admin.group.${verb}`,
      outcome: 'success',
      userId: actor.userId,
      ip: actor.ip,
      detail: { target_group: group.id, group: group.name, ...detail },
    });
  }
}
