import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

export type InvitePurpose = 'invite' | 'reset';

/**
 * A one-time link by which a user sets their password: 'invite' for a new account, 'reset' for
 * an existing one. The link holds the secret; the row only its SHA-256.
 */
@Entity('invite_tokens')
export class InviteToken {
  @PrimaryColumn('text', { name: 'token_hash' })
  tokenHash: string;

  @Index()
  @Column('text', { name: 'user_id' })
  userId: string;

  @Column('text')
  purpose: InvitePurpose;

  @Column('integer', { name: 'created_at' })
  createdAt: number;

  @Column('integer', { name: 'expires_at' })
  expiresAt: number;

  @Column('integer', { name: 'used_at', nullable: true })
  usedAt: number | null;
}
