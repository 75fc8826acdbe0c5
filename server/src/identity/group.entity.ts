import { Column, Entity, PrimaryColumn } from 'typeorm';

@Entity('groups')
export class Group {
  @PrimaryColumn('text')
  id: string;

  @Column('text', { unique: true })
  name: string;

  /** null: made in the console or config; `oidc:{provider}`: created and kept in sync from that provider's groups claim. */
  @Column('text', { nullable: true })
  source: string | null;

  @Column('integer', { name: 'created_at' })
  createdAt: number;
}
