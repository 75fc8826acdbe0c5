import { Column, Entity, PrimaryColumn } from 'typeorm';
import type { UserRole } from './roles';

@Entity('users')
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
