/**
 * BENCH_PROFILE=1: bench/profile-hook.js is preloaded into the gateway and the bare proxy, and
 * SIGUSR2 toggles a V8 CPU profile in both, so only the latency and throughput phases are profiled.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { PROFILE, RESULTS_DIR, ROOT } from '../config';
import { ProfileSummary, summarizeProfile } from './cpuprofile';
import type { Child } from './processes';
import { problems, sleep } from './run-log';

/** Node arguments and environment that load the profile hook into the process `name` (none unless profiling). */
export function profileArgs(name: string): { args: string[]; env: Record<string, string> } {
  if (!PROFILE) return { args: [], env: {} };
  return { args: ['--require', join(ROOT, 'bench', 'profile-hook.js')], env: { BENCH_PROFILE_FILE: join(RESULTS_DIR, `${name}.cpuprofile`) } };
}

/** Starts profiling (the hook also takes its idle memory snapshot now). */
export async function startProfiling(gateway: Child, bare: Child): Promise<void> {
  gateway.proc.kill('SIGUSR2');
  bare.proc.kill('SIGUSR2');
  await sleep(200);
}

export interface Profiles {
  profiles: Record<string, ProfileSummary>;
  /** process.memoryUsage() etc. of the profiled processes at idle (written by bench/profile-hook.js). */
  memorySnapshots: Record<string, MemorySnapshot>;
}

/** What bench/profile-hook.js writes to `<file>.mem.json`. */
export interface MemorySnapshot {
  memoryUsage: NodeJS.MemoryUsage;
  /** V8 heap space name -> bytes used. */
  heapSpacesUsed: Record<string, number>;
  modules: number;
  modulesByPackage: Record<string, number>;
}

/** Stops profiling and reads back what the hooks wrote. */
export async function stopProfiling(gateway: Child, bare: Child): Promise<Profiles> {
  for (const c of [gateway, bare]) c.proc.kill('SIGUSR2');
  const out: Profiles = { profiles: {}, memorySnapshots: {} };
  for (const name of ['gateway', 'bare-proxy']) {
    const file = join(RESULTS_DIR, `${name}.cpuprofile`);
    for (let i = 0; i < 200 && !existsSync(file + '.done'); i++) await sleep(50);
    if (!existsSync(file)) {
      problems.push(`no CPU profile written for ${name}`);
      continue;
    }
    rmSync(file + '.done', { force: true });
    out.profiles[name] = summarizeProfile(file, 15);
    if (existsSync(file + '.mem.json')) out.memorySnapshots[name] = JSON.parse(readFileSync(file + '.mem.json', 'utf8')) as MemorySnapshot;
  }
  return out;
}

export function formatMemory(name: string, m: MemorySnapshot): string {
  const MB = (b: number) => `${(b / 1e6).toFixed(1)} MB`;
  const mu = m.memoryUsage;
  const top = Object.entries(m.modulesByPackage)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 8)
    .map(([p, n]) => `${p} ${n}`)
    .join(', ');
  return (
    `${name} at idle: rss ${MB(mu.rss)}, V8 heap used ${MB(mu.heapUsed)} of ${MB(mu.heapTotal)}, external ${MB(mu.external)} ` +
    `(array buffers ${MB(mu.arrayBuffers)}); ${m.modules} modules loaded (${top})`
  );
}
