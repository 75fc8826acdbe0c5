import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** 128 random bits, then a 128-bit tag: `<nonce>.<tag>`, both base64url (the transport spec allows visible ASCII). */
const NONCE_BYTES = 16;
const TAG_BYTES = 16;
const SHAPE = /^([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{22})$/;

/**
 * The bundle's Mcp-Session-Id values, bound to the grant whose token opened the session by an HMAC
 * under a key every replica derives from the shared master key.
 *
 * Why not a session table: a session's state in the bundle is nothing but "which grant" (the lists
 * are rebuilt per request from the catalogue), and the token presented with every request names the
 * grant. So any replica, or the same gateway after a restart, can take up a session it never saw
 * when the id verifies for the presenting token's grant, with no write per session and nothing to
 * purge. A session id stolen without the grant's token is useless, as before; one shown with
 * another grant's token (even the same user's) does not verify.
 */
export class BundleSessionIds {
  constructor(private readonly key: Buffer) {}

  /** A fresh session id for a session of this grant. */
  mint(grantId: string): string {
    const nonce = randomBytes(NONCE_BYTES).toString('base64url');
    return `${nonce}.${this.tag(nonce, grantId).toString('base64url')}`;
  }

  /** Whether this id was minted by a replica of this gateway for this grant. */
  belongsTo(sessionId: string, grantId: string): boolean {
    const parts = SHAPE.exec(sessionId);
    if (!parts) return false;
    const given = Buffer.from(parts[2], 'base64url');
    return given.length === TAG_BYTES && timingSafeEqual(given, this.tag(parts[1], grantId));
  }

  private tag(nonce: string, grantId: string): Buffer {
    return createHmac('sha256', this.key).update(`bundle-session\0${nonce}\0${grantId}`).digest().subarray(0, TAG_BYTES);
  }
}
