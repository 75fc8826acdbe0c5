import { HOUR_MS } from '../../server/src/audit/audit-rollup.entity';
import { hourWindow, SettledHours } from '../../server/src/audit/settled-hours';

const DAY = 24 * HOUR_MS;
const NOW = Date.UTC(2030, 5, 10, 12, 30, 15);

describe('SettledHours: the kept sums of a window', () => {
  let settled: SettledHours;
  let computed: Array<[number, number]>;
  const compute = (from: number, to: number) => {
    computed.push([from, to]);
    return Promise.resolve(`${from}-${to}`);
  };

  beforeEach(() => {
    settled = new SettledHours();
    computed = [];
  });

  it('computes a window once while its ends stay, concurrent first reads included', async () => {
    const window = hourWindow(DAY, NOW);
    const [a, b] = await Promise.all([settled.sums('24h', window, compute), settled.sums('24h', window, compute)]);
    expect(await settled.sums('24h', hourWindow(DAY, NOW + 60_000), compute)).toBe(a);
    expect(b).toBe(a);
    expect(computed).toEqual([[window.from, window.settled]]);
  });

  it('computes again when the hour turns, and keeps one sum per window name', async () => {
    await settled.sums('24h', hourWindow(DAY, NOW), compute);
    await settled.sums('7d', hourWindow(7 * DAY, NOW), compute);
    await settled.sums('24h', hourWindow(DAY, NOW + HOUR_MS), compute);
    // The 7-day sum is still kept; the 24-hour one of the earlier hour is not.
    await settled.sums('7d', hourWindow(7 * DAY, NOW), compute);
    await settled.sums('24h', hourWindow(DAY, NOW), compute);
    expect(computed.map(([from, to]) => (to - from) / HOUR_MS)).toEqual([24, 7 * 24, 24, 24]);
  });

  it('does not keep a failed computation, and forget() drops every sum', async () => {
    const window = hourWindow(DAY, NOW);
    await expect(settled.sums('24h', window, () => Promise.reject(new Error('database gone')))).rejects.toThrow('database gone');
    expect(await settled.sums('24h', window, compute)).toBe(`${window.from}-${window.settled}`);
    settled.forget();
    await settled.sums('24h', window, compute);
    expect(computed).toHaveLength(2);
  });

  it('windows: from the start of the first hour to the end of the current one; hours settle two minutes after they end', () => {
    expect(hourWindow(DAY, NOW)).toEqual({ from: Date.UTC(2030, 5, 9, 12), to: Date.UTC(2030, 5, 10, 13), settled: Date.UTC(2030, 5, 10, 12) });
    expect(hourWindow(DAY, Date.UTC(2030, 5, 10, 12, 1, 59)).settled).toBe(Date.UTC(2030, 5, 10, 11));
    expect(hourWindow(DAY, Date.UTC(2030, 5, 10, 12, 2, 0)).settled).toBe(Date.UTC(2030, 5, 10, 12));
    expect(hourWindow(7 * DAY, Date.UTC(2030, 5, 10, 12))).toEqual({ from: Date.UTC(2030, 5, 3, 12), to: Date.UTC(2030, 5, 10, 13), settled: Date.UTC(2030, 5, 10, 11) });
  });
});
