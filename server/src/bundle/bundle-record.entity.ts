import { Column, Entity, PrimaryColumn } from 'typeorm';

/** A named bundle defined by an admin: `/mcp/b/{name}` presents these upstreams only (as each user may use them). */
@Entity('bundles')
export class BundleRecord {
  @PrimaryColumn('text')
  name: string;

  /** Upstream slugs, in the order the admin gave them. */
  @Column('simple-json')
  upstreams: string[];

  @Column('integer', { name: 'created_at' })
  createdAt: number;

  @Column('integer', { name: 'updated_at' })
  updatedAt: number;
}
