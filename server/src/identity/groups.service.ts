import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { In, Repository } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { Transactions } from '../database/transactions';
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
    private readonly transactions: Transactions,
  ) {}

  async ensure(name: string): Promise<Group> {
    const existing = await this.groups.findOneBy({ name });
    if (existing) return existing;
    const group = this.groups.create({ id: randomUUID(), name, createdAt: Date.now() });
    this.transactions.run((tx) => {
      tx.insert(this.groups, group);
      this.audit.recordIn(tx, { type: 'group.create', outcome: 'success', detail: { group: name } });
    });
    return group;
  }

  async addMember(groupName: string, userId: string): Promise<void> {
    const group = await this.ensure(groupName);
    this.transactions.run((tx) => {
      tx.upsert(this.members, { groupId: group.id, userId }, ['group_id', 'user_id'], ['group_id', 'user_id']);
      this.audit.recordIn(tx, { type: 'group.member.add', outcome: 'success', userId, detail: { group: groupName } });
    });
    this.namesByUser.delete(userId);
  }

  async removeMember(groupName: string, userId: string): Promise<void> {
    const group = await this.groups.findOneBy({ name: groupName });
    if (!group) return;
    this.transactions.run((tx) => {
      tx.delete(this.members, { groupId: group.id, userId });
      this.audit.recordIn(tx, { type: 'group.member.remove', outcome: 'success', userId, detail: { group: groupName } });
    });
    this.namesByUser.delete(userId);
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
