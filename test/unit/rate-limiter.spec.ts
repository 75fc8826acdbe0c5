import { RateLimiter } from '../../server/src/proxy/rate-limiter';

describe('RateLimiter', () => {
  it('allows a burst of perMinute, then refills at perMinute per minute, per key', () => {
    const limiter = new RateLimiter(60);
    const t0 = 1_000_000;
    for (let i = 0; i < 60; i++) expect(limiter.take('a', t0)).toBe(0);
    expect(limiter.take('a', t0)).toBe(1);
    expect(limiter.take('b', t0)).toBe(0);
    expect(limiter.take('a', t0 + 1000)).toBe(0);
    expect(limiter.take('a', t0 + 1000)).toBe(1);
    expect(limiter.take('a', t0 + 61_000)).toBe(0);
  });

  it('never limits when perMinute is 0', () => {
    const limiter = new RateLimiter(0);
    for (let i = 0; i < 1000; i++) expect(limiter.take('a', 5)).toBe(0);
  });
});
