import { RateLimiter, WATCH_MS, WINDOW_MS } from '../../server/src/proxy/rate-limiter';

/**
 * The merging of shared counts (issue 14), with the shared table played by a Map: each "replica"
 * is a RateLimiter; a sync adds its drained deltas to the table and hands the totals back, as
 * SharedCounters does with its upsert … RETURNING.
 */
class FakeTable {
  readonly counts = new Map<string, number>();
  sync(limiter: RateLimiter, now: number): void {
    const window = Math.floor(now / WINDOW_MS) * WINDOW_MS;
    for (const d of limiter.drain(window)) {
      const total = (this.counts.get(`${window}|${d.key}`) ?? 0) + d.count;
      this.counts.set(`${window}|${d.key}`, total);
      const previous = this.counts.get(`${window - WINDOW_MS}|${d.key}`) ?? null;
      limiter.learn(d.key, window, total, previous, now);
    }
  }
}

const T0 = 1_800_000_000_000; // the start of a minute
const admitted = (limiter: RateLimiter, key: string, now: number) => limiter.take(key, now) === 0;

describe('RateLimiter shared between replicas', () => {
  it('two replicas alternating, synced between requests, admit the limit once in total, not twice', () => {
    const table = new FakeTable();
    const [a, b] = [new RateLimiter(20), new RateLimiter(20)];
    a.share();
    b.share();
    let ok = 0;
    for (let i = 0; i < 40; i++) {
      const replica = i % 2 ? b : a;
      if (admitted(replica, 'alice:u', T0)) ok++;
      table.sync(replica, T0);
    }
    // Each replica learns the other's request one round late: at most one more than the limit.
    expect(ok).toBeGreaterThanOrEqual(20);
    expect(ok).toBeLessThanOrEqual(21);
    expect(table.counts.get(`${T0}|alice:u`)).toBe(ok);
    expect(b.take('alice:u', T0)).toBeGreaterThan(0);
    expect(a.take('alice:u', T0)).toBeGreaterThan(0);
  });

  it('without sharing (SQLite, one process) each limiter counts alone and nothing is drained', () => {
    const [a, b] = [new RateLimiter(20), new RateLimiter(20)];
    let ok = 0;
    for (let i = 0; i < 40; i++) if (admitted(i % 2 ? b : a, 'alice:u', T0)) ok++;
    expect(ok).toBe(40);
    expect(a.drain(T0)).toEqual([]);
  });

  it('another key is untouched by what was learned of the first', () => {
    const table = new FakeTable();
    const [a, b] = [new RateLimiter(5), new RateLimiter(5)];
    a.share();
    b.share();
    for (let i = 0; i < 5; i++) expect(admitted(b, 'alice:u', T0)).toBe(true);
    table.sync(b, T0);
    expect(admitted(a, 'alice:u', T0)).toBe(true); // a had not heard yet: the documented overshoot
    table.sync(a, T0);
    expect(a.take('alice:u', T0)).toBeGreaterThan(0);
    for (let i = 0; i < 5; i++) expect(admitted(a, 'bob:u', T0)).toBe(true);
  });

  it('drains only keys with new requests, each once, and counts them per sync', () => {
    const a = new RateLimiter(100);
    a.share();
    a.take('alice:u', T0);
    a.take('alice:u', T0);
    a.take('bob:u', T0);
    expect(a.drain(T0).sort((x, y) => x.key.localeCompare(y.key))).toEqual([
      { key: 'alice:u', count: 2 },
      { key: 'bob:u', count: 1 },
    ]);
    expect(a.drain(T0)).toEqual([]);
    a.take('bob:u', T0);
    expect(a.drain(T0)).toEqual([{ key: 'bob:u', count: 1 }]);
  });

  it("its own requests are never mistaken for the others' (also across a new minute)", () => {
    const table = new FakeTable();
    const a = new RateLimiter(10);
    a.share();
    const end = T0 + WINDOW_MS - 1; // the last millisecond of a minute
    for (let i = 0; i < 4; i++) a.take('alice:u', end);
    table.sync(a, end);
    for (let i = 0; i < 4; i++) a.take('alice:u', T0 + WINDOW_MS);
    table.sync(a, T0 + WINDOW_MS);
    // Alone it admitted 8 of 10: 2 left, not fewer.
    expect(admitted(a, 'alice:u', T0 + WINDOW_MS)).toBe(true);
    expect(admitted(a, 'alice:u', T0 + WINDOW_MS)).toBe(true);
    expect(admitted(a, 'alice:u', T0 + WINDOW_MS)).toBe(false);
  });

  it("the others' counts added to the previous minute after this replica's last look there still count", () => {
    const table = new FakeTable();
    const [a, b] = [new RateLimiter(10), new RateLimiter(10)];
    a.share();
    b.share();
    const end = T0 + WINDOW_MS - 1;
    a.take('alice:u', end);
    table.sync(a, end); // a's last look at the minute
    for (let i = 0; i < 6; i++) b.take('alice:u', end);
    table.sync(b, end); // b adds 6 to that minute after it
    a.take('alice:u', T0 + WINDOW_MS);
    table.sync(a, T0 + WINDOW_MS); // the next minute: a learns b's 6 from the previous row
    // 2 own + 6 of b's of 10: 2 left.
    expect(admitted(a, 'alice:u', T0 + WINDOW_MS)).toBe(true);
    expect(admitted(a, 'alice:u', T0 + WINDOW_MS)).toBe(true);
    expect(admitted(a, 'alice:u', T0 + WINDOW_MS)).toBe(false);
  });

  it("the others' requests drain the bucket to empty at most, and it refills at the limit's pace", () => {
    const a = new RateLimiter(60); // one a second
    a.share();
    a.take('alice:u', T0);
    a.drain(T0);
    a.learn('alice:u', T0, 1 + 500, null, T0); // the others admitted far more than the limit
    expect(a.take('alice:u', T0)).toBe(1); // empty, not 440 requests in debt
    expect(admitted(a, 'alice:u', T0 + 1_000)).toBe(true);
  });

  it('a total learned twice is counted once', () => {
    const a = new RateLimiter(10);
    a.share();
    a.take('alice:u', T0);
    a.drain(T0);
    a.learn('alice:u', T0, 6, null, T0);
    a.learn('alice:u', T0, 6, null, T0);
    // 1 own + 5 others of 10: 4 left.
    for (let i = 0; i < 4; i++) expect(admitted(a, 'alice:u', T0)).toBe(true);
    expect(admitted(a, 'alice:u', T0)).toBe(false);
  });

  it('keeps the keys waiting to be sent bounded', () => {
    const a = new RateLimiter(10, 3);
    a.share();
    for (const k of ['k1', 'k2', 'k3', 'k4', 'k5']) a.take(k, T0);
    expect(a.drain(T0).length).toBeLessThanOrEqual(3);
    expect(a.size).toBeLessThanOrEqual(3);
  });
});

describe('RateLimiter: keys watched after their last request', () => {
  it('a key sent recently is read at each sync for WATCH_MS, unless it has something to send anyway', () => {
    const a = new RateLimiter(10);
    a.share();
    a.take('alice:u', T0);
    a.drain(T0, T0);
    expect(a.watched(T0 + 1_000)).toEqual(['alice:u']);
    a.take('alice:u', T0 + 1_000);
    expect(a.watched(T0 + 1_000)).toEqual([]); // its delta is read back by the upsert
    a.drain(T0, T0 + 1_000);
    expect(a.watched(T0 + 1_000 + WATCH_MS - 1)).toEqual(['alice:u']);
    expect(a.watched(T0 + 1_000 + WATCH_MS)).toEqual([]);
  });

  it('what a watched key learns drains its bucket although this replica sent nothing new', () => {
    const a = new RateLimiter(10);
    a.share();
    a.take('alice:u', T0);
    a.drain(T0, T0);
    a.learn('alice:u', T0, 10, null, T0); // the others took the other 9
    expect(admitted(a, 'alice:u', T0)).toBe(false);
  });

  it('keeps the watched keys bounded', () => {
    const a = new RateLimiter(10, 2);
    a.share();
    for (const k of ['k1', 'k2', 'k3', 'k4']) {
      a.take(k, T0);
      a.drain(T0, T0);
    }
    expect(a.watched(T0)).toEqual(['k3', 'k4']);
  });
});
