/** What `npm run bench` runs and where: the workload's size, paths, and the gateway's admin login. */
import { join, resolve } from 'node:path';

export const ROOT = resolve(__dirname, '..');
export const RESULTS_DIR = join(ROOT, 'bench', 'results');
/** BENCH_PROFILE=1: CPU-profile the gateway and the bare proxy (see lib/profiling.ts). */
export const PROFILE = process.env.BENCH_PROFILE === '1';
export const TS_NODE = ['--require', 'ts-node/register/transpile-only'];
export const ADMIN = { email: 'bench-admin@example.test', password: 'bench horse battery staple' };

/** The workload. Sized so `npm run bench` stays well under 3 minutes on 2 cores. */
export const CFG = {
  warmupCalls: 400,
  latencyRounds: 4,
  latencyPerRound: 500, // per target per round → 2,000 calls per target
  throughputRounds: 3,
  throughputDurationS: 3,
  concurrency: [16, 64],
  sseRounds: 5,
  ssePerRound: 4,
  sseNotifications: 100,
  sseDelayMs: 1,
  bigWarmupRounds: 2,
  bigRounds: 5,
  bigPerRound: 4,
  bigBytes: 1024 * 1024,
  bigConcurrent: 8,
  bigConcurrentRounds: 3,
};
