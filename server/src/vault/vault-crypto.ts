import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';

/**
 * AES-256-GCM primitives shared by VaultService (inside Nest) and the rotation
 * command (plain better-sqlite3). No framework code here, so both can use it.
 */

const ALGORITHM = 'aes-256-gcm';
/** 96-bit nonces are GCM's native size (NIST SP 800-38D §8.2); a fresh random one per write. */
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/** The constant a key-check row encrypts, and the associated data that binds it to that purpose. */
const KEY_CHECK_PLAINTEXT = 'gatehouse master key check v1';
const KEY_CHECK_AAD = 'gatehouse-key-check';

export interface Sealed {
  /** All three base64. */
  nonce: string;
  ciphertext: string;
  tag: string;
}

/** The fields of a vault_secrets row that its associated data binds the ciphertext to. */
export interface SecretBinding {
  id: string;
  ownerType: string;
  ownerId: string;
  purpose: string;
}

/** Thrown when a ciphertext fails GCM authentication: wrong key, altered, or moved to another row. */
export class VaultDecryptError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'VaultDecryptError';
  }
}

/**
 * Names a master key without revealing it: the first 16 hex characters of its SHA-256.
 * A 64-bit prefix of a hash of a 256-bit random key gives nothing useful to an attacker.
 */
export function keyIdOf(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 16);
}

/**
 * Associated data for one secret. JSON-encoding the fields keeps it unambiguous:
 * with plain ':' joins, owner id "a:b" + purpose "c" and owner id "a" + purpose "b:c"
 * would authenticate identically, and a row could be re-labelled without detection.
 */
export function secretAad(row: SecretBinding): string {
  return `gatehouse-vault:v1:${JSON.stringify([row.ownerType, row.ownerId, row.purpose, row.id])}`;
}

export function seal(key: Buffer, plaintext: string, aad: string): Sealed {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv(ALGORITHM, key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return { nonce: nonce.toString('base64'), ciphertext: ciphertext.toString('base64'), tag: cipher.getAuthTag().toString('base64') };
}

/** Returns the plaintext, or null when authentication fails (callers turn that into their own error). */
export function open(key: Buffer, sealed: Sealed, aad: string): string | null {
  try {
    const tag = Buffer.from(sealed.tag, 'base64');
    // A truncated tag would weaken authentication; GCM in Node accepts short tags unless told otherwise.
    if (tag.length !== TAG_BYTES) return null;
    const decipher = createDecipheriv(ALGORITHM, key, Buffer.from(sealed.nonce, 'base64'), { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(aad, 'utf8'));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(Buffer.from(sealed.ciphertext, 'base64')), decipher.final()]).toString('utf8');
  } catch {
    return null;
  }
}

export function sealSecret(key: Buffer, row: SecretBinding, plaintext: string): Sealed {
  return seal(key, plaintext, secretAad(row));
}

/** Decrypts one vault row; the error names the row and purpose, never the value. */
export function openSecret(key: Buffer, row: SecretBinding & Sealed): string {
  const plaintext = open(key, row, secretAad(row));
  if (plaintext === null) {
    throw new VaultDecryptError(
      `vault secret ${row.id} (${row.ownerType} ${row.ownerId}, purpose ${row.purpose}) could not be decrypted: ` +
        'it was altered, copied from another row, or encrypted under another key',
    );
  }
  return plaintext;
}

/** The value stored in vault_keys: proof, checkable at start, that a key is the one the data was sealed with. */
export function makeKeyCheck(key: Buffer): Sealed {
  return seal(key, KEY_CHECK_PLAINTEXT, KEY_CHECK_AAD);
}

export function keyCheckPasses(key: Buffer, check: Sealed): boolean {
  return open(key, check, KEY_CHECK_AAD) === KEY_CHECK_PLAINTEXT;
}

/**
 * A 256-bit key for another purpose, derived from the master key with HKDF-SHA256 (RFC 5869).
 * Distinct labels give independent keys, and none of them reveals the master key.
 * A master key rotation changes every derived key too.
 */
export function deriveSubkey(master: Buffer, label: string): Buffer {
  return Buffer.from(hkdfSync('sha256', master, Buffer.alloc(0), `gatehouse-subkey:v1:${label}`, 32));
}
