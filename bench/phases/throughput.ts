/**
 * Throughput: CFG.concurrency clients (16 and 64), rounds interleaved, plus the CPU each process on
 * the path used per call over all throughput runs of that target.
 */
import { CFG } from '../config';
import { BenchContext, PerTarget, perTarget, rotated, withSessions } from '../lib/context';
import { cannon, CannonResult } from '../lib/mcp-http';
import { cpuMs } from '../lib/processes';
import { check, log } from '../lib/run-log';
import { summarize, Summary } from '../lib/stats';

export interface CpuUnderLoad {
  proxyMs: number;
  upstreamMs: number;
  /** This process: autocannon. */
  clientMs: number;
  calls: number;
}

export interface Throughput {
  /** Per number of clients. */
  throughput: Record<number, PerTarget<{ callsPerS: number; latency: Summary }>>;
  /** Every autocannon run, per number of clients. */
  runs: Record<number, PerTarget<CannonResult[]>>;
  cpu: PerTarget<CpuUnderLoad>;
}

export async function measureThroughput(ctx: BenchContext): Promise<Throughput> {
  const { upstream, bare, gateway } = ctx.servers;
  log(`throughput: ${CFG.concurrency.join(' and ')} clients, ${CFG.throughputRounds} rounds x ${CFG.throughputDurationS} s per target`);
  const thrRuns: Record<number, PerTarget<CannonResult[]>> = {};
  for (const c of CFG.concurrency) thrRuns[c] = perTarget(() => []);
  const cpu = perTarget<CpuUnderLoad>(() => ({ proxyMs: 0, upstreamMs: 0, clientMs: 0, calls: 0 }));
  const proxyPid: PerTarget<number | null> = { direct: null, bare: bare.child.pid, gateway: gateway.child.pid };
  await withSessions(ctx, async () => {
    for (let r = 0; r < CFG.throughputRounds; r++) {
      for (const [ci, c] of CFG.concurrency.entries()) {
        for (const t of rotated(ctx.order, r + ci)) {
          const pid = proxyPid[t.key];
          const before = { proxy: pid ? cpuMs(pid) : 0, upstream: cpuMs(upstream.child.pid), client: process.cpuUsage() };
          const res = await cannon(t, ctx.token, { connections: c, durationS: CFG.throughputDurationS, keepLatencies: true });
          const clientUse = process.cpuUsage(before.client);
          cpu[t.key].proxyMs += pid ? cpuMs(pid) - before.proxy : 0;
          cpu[t.key].upstreamMs += cpuMs(upstream.child.pid) - before.upstream;
          cpu[t.key].clientMs += (clientUse.user + clientUse.system) / 1000;
          cpu[t.key].calls += res.requests;
          check(`throughput ${c} clients ${t.label} round ${r + 1}`, res);
          thrRuns[c][t.key].push(res);
        }
      }
    }
  });
  const throughput: Throughput['throughput'] = {};
  for (const c of CFG.concurrency) {
    throughput[c] = perTarget((k) => {
      const runs = thrRuns[c][k];
      const calls = runs.reduce((a, x) => a + x.requests, 0);
      const secs = runs.reduce((a, x) => a + x.durationS, 0);
      return { callsPerS: calls / secs, latency: summarize(runs.flatMap((x) => x.latencies)) };
    });
  }
  return { throughput, runs: thrRuns, cpu };
}
