import { RateLimiter } from '../../server/src/proxy/rate-limiter';

/**
 * Issue 12 (idle RSS): a rate limiter's memory follows the keys in use. lru-cache, its former store,
 * allocated its index arrays for all 100,000 keys when the limiter was built (about 2.8 MB each,
 * for the proxy's and the bundle's limiter, rate limiting on or off).
 */
describe('hotpath: rate limiter memory', () => {
  const allocated = () => {
    const m = process.memoryUsage();
    return m.heapUsed + m.external;
  };

  it('allocates nothing up front for its 100,000-key bound', () => {
    const before = allocated();
    // Kept alive until measured, so that a collection in between cannot hide what they hold.
    const limiters = Array.from({ length: 20 }, () => new RateLimiter(1200));
    const grown = allocated() - before;
    expect(limiters).toHaveLength(20);
    // lru-cache: 20 × 2.8 MB = 56 MB; a Map: a few hundred bytes each.
    expect(grown).toBeLessThan(5 * 1024 * 1024);
  });

  it('still forgets the least recently used key first, once at its bound', () => {
    const limiter = new RateLimiter(1, 3);
    const t = 1_000_000;
    for (const key of ['a', 'b', 'c']) expect(limiter.take(key, t)).toBe(0);
    // 'a' used again (over its limit): now the most recent, so 'b' is the oldest.
    expect(limiter.take('a', t)).toBeGreaterThan(0);
    expect(limiter.take('d', t)).toBe(0);
    expect(limiter.size).toBe(3);
    expect(limiter.take('a', t)).toBeGreaterThan(0); // still remembered, still limited
    expect(limiter.take('b', t)).toBe(0); // forgotten: a full bucket again
  });

  it('is off with 0 a minute: enabled is false and nothing is remembered', () => {
    const limiter = new RateLimiter(0);
    expect(limiter.enabled).toBe(false);
    for (let i = 0; i < 100; i++) expect(limiter.take(`k${i}`)).toBe(0);
    expect(limiter.size).toBe(0);
  });
});
