import { Column, Entity, PrimaryColumn } from 'typeorm';

/**
 * One row per master key the vault is sealed with (normally exactly one): a known
 * constant encrypted under that key, so a start with the wrong key fails clearly
 * instead of returning garbage or failing later on the first secret it reads.
 */
@Entity('vault_keys')
export class VaultKey {
  /** keyIdOf(key): a 64-bit prefix of its SHA-256, not the key. */
  @PrimaryColumn('text', { name: 'key_id' })
  keyId: string;

  /** base64 */
  @Column('text')
  nonce: string;

  /** base64 */
  @Column('text')
  ciphertext: string;

  /** base64 */
  @Column('text')
  tag: string;

  @Column('integer', { name: 'created_at' })
  createdAt: number;
}
