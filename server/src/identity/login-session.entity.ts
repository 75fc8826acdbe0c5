import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

/** A browser login at the gateway; the cookie holds the secret, the row only its SHA-256. */
@Entity('login_sessions')
export class LoginSession {
  @PrimaryColumn('text', { name: 'id_hash' })
  idHash: string;

  @Index()
  @Column('text', { name: 'user_id' })
  userId: string;

  @Column('integer', { name: 'created_at' })
  createdAt: number;

  /** Indexed: each sign-in deletes the expired sessions by it (a range, not a scan of every row). */
  @Index()
  @Column('integer', { name: 'expires_at' })
  expiresAt: number;
}
