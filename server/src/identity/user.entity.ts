import { Column, Entity, PrimaryColumn } from 'typeorm';

@Entity('users')
export class User {
  @PrimaryColumn('text')
  id: string;

  /** Stored lower-cased. */
  @Column('text', { unique: true })
  email: string;

  @Column('text', { name: 'password_hash' })
  passwordHash: string;

  @Column('text', { name: 'display_name', nullable: true })
  displayName: string | null;

  @Column('boolean', { name: 'is_admin', default: false })
  isAdmin: boolean;

  @Column('boolean', { default: false })
  disabled: boolean;

  @Column('integer', { name: 'created_at' })
  createdAt: number;

  @Column('integer', { name: 'last_login_at', nullable: true })
  lastLoginAt: number | null;
}
