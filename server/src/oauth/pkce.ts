import { safeEqual, sha256 } from '../common/crypto';

/** RFC 7636 §4.1/§4.2: 43–128 characters of the unreserved set. */
export const PKCE_VALUE = /^[A-Za-z0-9._~-]{43,128}$/;

/** RFC 7636 §4.6: S256 is BASE64URL-ENCODE(SHA256(ASCII(code_verifier))), the digest common/crypto's sha256 gives. */
export function verifyS256(verifier: string, challenge: string): boolean {
  return safeEqual(sha256(verifier), challenge);
}
