import { Column, Entity, PrimaryColumn, Unique } from 'typeorm';

/**
 * One encrypted upstream secret (AES-256-GCM). The plaintext is never stored; the
 * ciphertext authenticates only under its own id, owner and purpose (see secretAad),
 * so copying it to another row makes it undecryptable.
 * The unique (owner_type, owner_id, purpose) index also serves lookups by owner.
 */
@Entity('vault_secrets')
@Unique(['ownerType', 'ownerId', 'purpose'])
export class VaultSecret {
  @PrimaryColumn('text')
  id: string;

  /** e.g. 'upstream', 'user_upstream' */
  @Column('text', { name: 'owner_type' })
  ownerType: string;

  @Column('text', { name: 'owner_id' })
  ownerId: string;

  /** e.g. 'header:X-Api-Key', 'credentials', 'oauth_tokens', 'oauth_client_secret' */
  @Column('text')
  purpose: string;

  /** keyIdOf() the master key that sealed it. */
  @Column('text', { name: 'key_id' })
  keyId: string;

  /** base64 */
  @Column('text')
  nonce: string;

  /** base64 */
  @Column('text')
  ciphertext: string;

  /** base64 GCM authentication tag */
  @Column('text')
  tag: string;

  @Column('integer', { name: 'created_at' })
  createdAt: number;

  @Column('integer', { name: 'updated_at' })
  updatedAt: number;
}
