/**
 * A fixed log-scale latency histogram: the dashboard's p50/p95 over any range are read from the
 * sum of the per-minute histograms in it, never from the audit log. The bounds follow a 1-2-3-5-7
 * series (about 1.5x apart), fine enough that the interpolated percentile is within a few per cent
 * of the exact one for smooth data, and coarse enough to stay 35 integer columns.
 */

/** Inclusive upper bounds (ms) of every bucket but the last, which holds everything above. */
export const LATENCY_BOUNDS_MS: readonly number[] = [
  0, 1, 2, 3, 5, 7, 10, 15, 20, 30, 50, 70, 100, 150, 200, 300, 500, 700, 1000, 1500, 2000, 3000, 5000, 7000, 10_000, 15_000, 20_000, 30_000, 50_000, 70_000, 100_000, 150_000,
  200_000, 300_000,
];

export const LATENCY_BUCKETS = LATENCY_BOUNDS_MS.length + 1;

/** The rollup table's column of each bucket: ms_le_<bound>, and ms_gt_<last bound> for the overflow. */
export const LATENCY_COLUMNS: readonly string[] = [...LATENCY_BOUNDS_MS.map((b) => `ms_le_${b}`), `ms_gt_${LATENCY_BOUNDS_MS[LATENCY_BOUNDS_MS.length - 1]}`];

/** The bucket a duration falls in (binary search: 6 comparisons). */
export function latencyBucket(ms: number): number {
  let lo = 0;
  let hi = LATENCY_BOUNDS_MS.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ms <= LATENCY_BOUNDS_MS[mid]) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/**
 * The p-th percentile (0 < p <= 100, nearest rank) of the durations counted in `counts`, linearly
 * interpolated inside its bucket: the k-th of n values in a bucket (lower, upper] is read as
 * lower + k/n of the way up. Null when there is nothing counted. The overflow bucket answers its
 * lower bound (a floor: "more than 300 s").
 */
export function percentileOf(counts: readonly number[], p: number): number | null {
  let total = 0;
  for (const c of counts) total += c;
  if (!total) return null;
  const rank = Math.max(1, Math.ceil((p / 100) * total));
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    if (seen + counts[i] < rank) {
      seen += counts[i];
      continue;
    }
    if (i >= LATENCY_BOUNDS_MS.length) return LATENCY_BOUNDS_MS[LATENCY_BOUNDS_MS.length - 1];
    const upper = LATENCY_BOUNDS_MS[i];
    if (i === 0) return upper;
    const lower = LATENCY_BOUNDS_MS[i - 1];
    return lower + ((upper - lower) * (rank - seen)) / counts[i];
  }
  return null; // not reached: rank <= total
}
