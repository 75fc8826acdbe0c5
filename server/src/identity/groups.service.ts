import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { In, Repository } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { GroupMember } from './group-member.entity';
import { Group } from './group.entity';

@Injectable()
export class GroupsService {
  /** user id → group names; cleared for a user whenever their memberships change. */
  private readonly namesByUser = new Map<string, string[]>();

  constructor(
    @InjectRepository(Group) private readonly groups: Repository<Group>,
    @InjectRepository(GroupMember) private readonly members: Repository<GroupMember>,
    private readonly audit: AuditService,
  ) {}

  async ensure(name: string): Promise<Group> {
    const existing = await this.groups.findOneBy({ name });
    if (existing) return existing;
    const group = this.groups.create({ id: randomUUID(), name, createdAt: Date.now() });
    await this.groups.insert(group);
    this.audit.record({ type: 'group.create', outcome: 'success', detail: { group: name } });
    return group;
  }

  async addMember(groupName: string, userId: string): Promise<void> {
    const group = await this.ensure(groupName);
    await this.members.upsert({ groupId: group.id, userId }, ['groupId', 'userId']);
    this.namesByUser.delete(userId);
    this.audit.record({ type: 'group.member.add', outcome: 'success', userId, detail: { group: groupName } });
  }

  async removeMember(groupName: string, userId: string): Promise<void> {
    const group = await this.groups.findOneBy({ name: groupName });
    if (!group) return;
    await this.members.delete({ groupId: group.id, userId });
    this.namesByUser.delete(userId);
    this.audit.record({ type: 'group.member.remove', outcome: 'success', userId, detail: { group: groupName } });
  }

  /** The names of the user's groups (cached; the proxy asks on every request). */
  async namesFor(userId: string): Promise<string[]> {
    const cached = this.namesByUser.get(userId);
    if (cached) return cached;
    const memberships = await this.members.findBy({ userId });
    const names = memberships.length
      ? (await this.groups.findBy({ id: In(memberships.map((m) => m.groupId)) })).map((g) => g.name)
      : [];
    this.namesByUser.set(userId, names);
    return names;
  }
}
