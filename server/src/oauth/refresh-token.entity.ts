import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

@Entity('refresh_tokens')
// The purge clears rotation nonces past the grace window: only rows that still hold one are indexed.
@Index(['rotatedAt'], { where: '"rotation_nonce" IS NOT NULL' })
export class RefreshToken {
  @PrimaryColumn('text', { name: 'token_hash' })
  tokenHash: string;

  @Index()
  @Column('text', { name: 'grant_id' })
  grantId: string;

  @Column('integer', { name: 'created_at' })
  createdAt: number;

  /** Indexed: the expiry purge deletes by it (a range, not a scan of every row). */
  @Index()
  @Column('integer', { name: 'expires_at' })
  expiresAt: number;

  /** Set when exchanged for a new pair; a later use is reuse (OAuth 2.1 §4.3.1). */
  @Column('integer', { name: 'rotated_at', nullable: true })
  rotatedAt: number | null;

  /**
   * Set with rotatedAt when a grace window is configured: with the presented old token and a
   * server key it re-derives the pair this token was rotated into, so a retry, even after a
   * restart, gets that same pair (see GrantsService.refresh (grants/refresh-rotation.ts)). Not secret on its own; cleared
   * once the grace window is over.
   */
  @Column('text', { name: 'rotation_nonce', nullable: true })
  rotationNonce: string | null;
}
