import crypto from 'node:crypto';
import { sha256 } from '../../server/src/common/crypto';

/**
 * Issue 12: the proxy digests the bearer token of every request to find it in the token cache.
 * The digest is computed in one call (crypto.hash), not through a Hash object, and is the same.
 */
describe('hotpath: the token digest', () => {
  it('is SHA-256 in base64url, as stored (tokens, codes, client secrets)', () => {
    for (const value of ['', 'a', 'tok-' + 'x'.repeat(43), 'héllo ✓ 😀']) {
      expect(sha256(value)).toBe(crypto.createHash('sha256').update(value, 'utf8').digest('base64url'));
    }
    expect(sha256('abc')).toBe('ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0');
  });

  it('creates no Hash object per call', () => {
    const createHash = jest.spyOn(crypto, 'createHash');
    try {
      for (let i = 0; i < 5; i++) sha256(`token-${i}`);
      expect(createHash).not.toHaveBeenCalled();
    } finally {
      createHash.mockRestore();
    }
  });
});
