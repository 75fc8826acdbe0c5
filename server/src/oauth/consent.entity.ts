import { Column, Entity, Index, PrimaryGeneratedColumn, Unique } from 'typeorm';

/** A user's remembered "allow" for one client at one upstream. */
@Entity('consents')
@Unique(['userId', 'clientId', 'upstreamSlug'])
export class Consent {
  @PrimaryGeneratedColumn()
  id: number;

  @Column('text', { name: 'user_id' })
  userId: string;

  /** Indexed: deleting a client forgets its consents (the unique key starts with user_id). */
  @Index()
  @Column('text', { name: 'client_id' })
  clientId: string;

  @Column('text', { name: 'upstream_slug' })
  upstreamSlug: string;

  @Column('text')
  scope: string;

  @Column('integer', { name: 'created_at' })
  createdAt: number;
}
