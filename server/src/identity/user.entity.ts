import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import type { UserRole } from './roles';
import { USERS_EMAIL_TRGM_INDEX, USERS_NAME_TRGM_INDEX } from './user-search';

/**
 * The trigram indexes of the users search exist on PostgreSQL only (its users-search migration; an
 * operator class, which TypeORM cannot express, hence synchronize: false). SQLite's is the FTS5
 * table users_search with its triggers, which TypeORM's diff does not see: see identity/user-search.ts.
 */
@Entity('users')
@Index(USERS_EMAIL_TRGM_INDEX, { synchronize: false })
@Index(USERS_NAME_TRGM_INDEX, { synchronize: false })
export class User {
  @PrimaryColumn('text')
  id: string;

  /** Stored lower-cased. */
  @Column('text', { unique: true })
  email: string;

  /** argon2id; null until the user sets one through an invite or reset link (no password sign-in until then). */
  @Column('text', { name: 'password_hash', nullable: true })
  passwordHash: string | null;

  @Column('text', { name: 'display_name', nullable: true })
  displayName: string | null;

  /** What the user may do at the gateway's admin console: see roles.ts. */
  @Column('text', { default: 'member' })
  role: UserRole;

  @Column('boolean', { default: false })
  disabled: boolean;

  @Column('integer', { name: 'created_at' })
  createdAt: number;

  @Column('integer', { name: 'last_login_at', nullable: true })
  lastLoginAt: number | null;
}
