import { Entity, Index, PrimaryColumn } from 'typeorm';

@Entity('group_members')
export class GroupMember {
  @PrimaryColumn('text', { name: 'group_id' })
  groupId: string;

  @Index()
  @PrimaryColumn('text', { name: 'user_id' })
  userId: string;
}
