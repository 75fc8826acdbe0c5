import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

/** Which flow a pending sign-in belongs to: the gateway's own sign-in at an OpenID Connect provider, or a user's at an upstream's authorization server. */
export type PendingSignInKind = 'oidc' | 'upstream';

/**
 * A browser sent to an authorization server and not yet back (pending-sign-ins.service.ts). The key
 * the callback presents (a cookie value or `state`) is stored only as a hash, and what the callback
 * needs (PKCE verifier, nonce, where to return) only sealed under a key derived from the master key.
 */
@Entity('pending_sign_ins')
@Index('IDX_pending_sign_ins_expires_at', ['expiresAt'])
@Index('IDX_pending_sign_ins_requester', ['requester', 'createdAt'])
export class PendingSignInRecord {
  /** SHA-256 (base64url) of the kind and the key. */
  @PrimaryColumn('text')
  id: string;

  @Column('text')
  kind: PendingSignInKind;

  /** Who started it (`ip:…` or `user:…`): the unit the number of pending sign-ins is bounded per. */
  @Column('text')
  requester: string;

  /** JSON of the AES-256-GCM seal (vault-crypto.ts) of the flow's data. */
  @Column('text')
  sealed: string;

  @Column('integer', { name: 'created_at' })
  createdAt: number;

  @Column('integer', { name: 'expires_at' })
  expiresAt: number;
}
