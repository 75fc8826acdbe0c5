import { createHash } from 'node:crypto';
import { safeEqual } from '../common/crypto';

/** RFC 7636 §4.1/§4.2: 43–128 characters of the unreserved set. */
export const PKCE_VALUE = /^[A-Za-z0-9._~-]{43,128}$/;

export function verifyS256(verifier: string, challenge: string): boolean {
  const computed = createHash('sha256').update(verifier).digest('base64url');
  return safeEqual(computed, challenge);
}
