import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { In, Repository } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { ChangeFeed } from '../database/change-feed';
import { Transactions } from '../database/transactions';
import { conflict, notFound } from '../common/api-errors';
import { GroupMember } from './group-member.entity';
import { Group } from './group.entity';
import { User } from './user.entity';

export type GroupWithCount = Group & { memberCount: number };

@Injectable()
export class GroupsService {
  /** user id → group names; cleared for a user whenever their memberships change (here or, through the ChangeFeed, on another replica). */
  private readonly namesByUser = new Map<string, { names: string[]; staleAt: number }>();

  constructor(
    @InjectRepository(Group) private readonly groups: Repository<Group>,
    @InjectRepository(GroupMember) private readonly members: Repository<GroupMember>,
    @InjectRepository(User) private readonly users: Repository<User>,
    private readonly audit: AuditService,
    private readonly transactions: Transactions,
    private readonly feed: ChangeFeed,
  ) {
    feed.on('groups.changed', (userId) => (userId === '*' ? this.namesByUser.clear() : this.namesByUser.delete(userId)));
    feed.onResync(() => this.namesByUser.clear());
  }

  /** Drops the cached names of one user ('*': everyone's) here and on every other replica. */
  private forget(userId: string): void {
    if (userId === '*') this.namesByUser.clear();
    else this.namesByUser.delete(userId);
    this.feed.publish('groups.changed', userId);
  }

  async ensure(name: string): Promise<Group> {
    const existing = await this.groups.findOneBy({ name });
    if (existing) return existing;
    const group = this.groups.create({ id: randomUUID(), name, createdAt: Date.now() });
    await this.transactions.run(async (tx) => {
      await tx.insert(this.groups, group);
      await this.audit.recordIn(tx, { type: 'group.create', outcome: 'success', detail: { group: name } });
    });
    return group;
  }

  async addMember(groupName: string, userId: string): Promise<void> {
    const group = await this.ensure(groupName);
    await this.transactions.run(async (tx) => {
      await tx.upsert(this.members, { groupId: group.id, userId }, ['group_id', 'user_id'], ['group_id', 'user_id']);
      await this.audit.recordIn(tx, { type: 'group.member.add', outcome: 'success', userId, detail: { group: groupName } });
    });
    this.forget(userId);
  }

  async removeMember(groupName: string, userId: string): Promise<void> {
    const group = await this.groups.findOneBy({ name: groupName });
    if (!group) return;
    await this.transactions.run(async (tx) => {
      await tx.delete(this.members, { groupId: group.id, userId });
      await this.audit.recordIn(tx, { type: 'group.member.remove', outcome: 'success', userId, detail: { group: groupName } });
    });
    this.forget(userId);
  }

  /** The names of the user's groups (cached; the proxy asks on every request). */
  async namesFor(userId: string): Promise<string[]> {
    const cached = this.namesByUser.get(userId);
    if (cached && cached.staleAt > Date.now()) return cached.names;
    const names = (await this.groupsOf(userId)).map((g) => g.name);
    this.namesByUser.set(userId, { names, staleAt: Date.now() + this.feed.cacheTtlMs });
    return names;
  }

  /** The user's groups, by name. */
  async groupsOf(userId: string): Promise<Group[]> {
    const memberships = await this.members.findBy({ userId });
    return memberships.length ? this.groups.find({ where: { id: In(memberships.map((m) => m.groupId)) }, order: { name: 'ASC' } }) : [];
  }

  /** Up to `limit` groups after `afterName`, in name order (names are unique), with their member counts. */
  async list(page: { afterName: string | null; limit: number }): Promise<GroupWithCount[]> {
    const qb = this.groups.createQueryBuilder('g').orderBy('g.name', 'ASC').take(page.limit);
    if (page.afterName !== null) qb.where('g.name > :after', { after: page.afterName });
    return this.withCounts(await qb.getMany());
  }

  /** The group, or 404 `{"error":"not_found"}`. */
  async require(id: string): Promise<GroupWithCount> {
    const group = typeof id === 'string' ? await this.groups.findOneBy({ id }) : null;
    if (!group) throw notFound('no such group');
    return (await this.withCounts([group]))[0];
  }

  findByName(name: string): Promise<Group | null> {
    return this.groups.findOneBy({ name });
  }

  /** A new, empty group; 409 when the name is taken. */
  async create(name: string): Promise<GroupWithCount> {
    const group = this.groups.create({ id: randomUUID(), name, createdAt: Date.now() });
    await this.insertOrConflict(name, () => this.groups.insert(group));
    return { ...group, memberCount: 0 };
  }

  /** Renames the group; 409 when the new name is taken. Returns the old name. */
  async rename(id: string, name: string): Promise<string> {
    const group = await this.require(id);
    if (group.name === name) return name;
    await this.insertOrConflict(name, () => this.groups.update({ id }, { name }));
    // Every member's cached names hold the old one.
    this.forget('*');
    return group.name;
  }

  /** Deletes the group and its memberships. */
  async delete(id: string): Promise<void> {
    await this.require(id);
    await this.members.delete({ groupId: id });
    await this.groups.delete({ id });
    this.forget('*');
  }

  /** Adds the user to the group; false when they were in it already. */
  async addMemberById(groupId: string, userId: string): Promise<boolean> {
    if (await this.members.existsBy({ groupId, userId })) return false;
    await this.members.upsert({ groupId, userId }, ['groupId', 'userId']);
    this.forget(userId);
    return true;
  }

  /** Removes the user from the group; false when they were not in it. */
  async removeMemberById(groupId: string, userId: string): Promise<boolean> {
    const { affected } = await this.members.delete({ groupId, userId });
    this.forget(userId);
    return !!affected;
  }

  /** Up to `limit` members after `afterEmail`, in email order. */
  membersOf(groupId: string, page: { afterEmail: string | null; limit: number }): Promise<User[]> {
    const qb = this.users.createQueryBuilder('u').innerJoin(GroupMember, 'm', 'm.user_id = u.id AND m.group_id = :groupId', { groupId }).orderBy('u.email', 'ASC').take(page.limit);
    if (page.afterEmail !== null) qb.where('u.email > :after', { after: page.afterEmail });
    return qb.getMany();
  }

  /** Drops a deleted user from every group. */
  async forgetUser(userId: string): Promise<void> {
    await this.members.delete({ userId });
    this.forget(userId);
  }

  /**
   * Replaces the user's memberships among the groups of `source` (e.g. `oidc:corp`) by `names`: the
   * groups named that are missing are created with that source; memberships in other groups of the source
   * end. A named group that exists with another source (made in the console) is left alone and reported
   * as skipped: a provider's claim does not put anyone into groups the administrator manages by hand.
   */
  async syncSourced(userId: string, source: string, names: string[]): Promise<{ added: string[]; removed: string[]; skipped: string[] }> {
    const wanted = new Set(names);
    const existing = wanted.size ? await this.groups.find({ where: { name: In([...wanted]) } }) : [];
    const byName = new Map(existing.map((g) => [g.name, g]));
    const skipped = existing.filter((g) => g.source !== source).map((g) => g.name);
    const memberships = await this.members.findBy({ userId });
    const current = memberships.length ? await this.groups.find({ where: { id: In(memberships.map((m) => m.groupId)), source } }) : [];
    const currentNames = new Set(current.map((g) => g.name));
    const added: string[] = [];
    const removed = current.filter((g) => !wanted.has(g.name));
    const now = Date.now();
    await this.transactions.run(async (tx) => {
      for (const name of wanted) {
        let group = byName.get(name);
        if (group && group.source !== source) continue;
        if (!group) {
          group = this.groups.create({ id: randomUUID(), name, source, createdAt: now });
          await tx.insert(this.groups, group);
          await this.audit.recordIn(tx, { type: 'group.create', outcome: 'success', detail: { group: name, source } });
        }
        if (currentNames.has(name)) continue;
        await tx.upsert(this.members, { groupId: group.id, userId }, ['group_id', 'user_id'], ['group_id', 'user_id']);
        added.push(name);
      }
      for (const group of removed) await tx.delete(this.members, { groupId: group.id, userId });
    });
    this.forget(userId);
    return { added, removed: removed.map((g) => g.name), skipped };
  }

  private async withCounts(groups: Group[]): Promise<GroupWithCount[]> {
    if (!groups.length) return [];
    const rows: Array<{ groupId: string; count: number }> = await this.members
      .createQueryBuilder('m')
      .select('m.group_id', 'groupId')
      .addSelect('COUNT(*)', 'count')
      .where('m.group_id IN (:...ids)', { ids: groups.map((g) => g.id) })
      .groupBy('m.group_id')
      .getRawMany();
    const counts = new Map(rows.map((r) => [r.groupId, Number(r.count)]));
    return groups.map((g) => ({ ...g, memberCount: counts.get(g.id) ?? 0 }));
  }

  private async insertOrConflict(name: string, write: () => Promise<unknown>): Promise<void> {
    const taken = () => conflict(`a group named "${name}" already exists`);
    if (await this.groups.existsBy({ name })) throw taken();
    try {
      await write();
    } catch (err) {
      const e = err as { code?: string; driverError?: { code?: string } };
      if ((e.driverError?.code ?? e.code ?? '').startsWith('SQLITE_CONSTRAINT')) throw taken();
      throw err;
    }
  }
}
