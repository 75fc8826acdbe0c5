import { hash, randomBytes, timingSafeEqual } from 'node:crypto';

/** A URL-safe random secret with 256 bits of entropy. */
export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/**
 * A public random identifier (a client id): base64url that never starts with '-', so that it is
 * never taken for an option when pasted after a command (`gatehouse doctor <client-id>`). Drawing
 * again keeps every id 128 bits of randomness; skipping one first character out of 64 leaves it
 * unguessable (it is not a secret in any case).
 */
export function publicId(bytes = 16): string {
  for (;;) {
    const id = randomToken(bytes);
    if (!id.startsWith('-')) return id;
  }
}

/**
 * Tokens, codes and client secrets are stored only as this digest. The proxy computes it for the
 * bearer token of every request (the token cache is keyed by it): crypto.hash (node >= 20.12) is
 * one call, about a third of the cost of a Hash object for inputs this small.
 */
export function sha256(value: string): string {
  return hash('sha256', value, 'base64url');
}

export function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}
