/** Turns the phases' figures into the printed table + targets and bench/results/latest.json. */
import { execFileSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { CFG, PROFILE, ROOT } from './config';
import { PerTarget, perTarget } from './lib/context';
import { formatProfile } from './lib/cpuprofile';
import { formatMemory, Profiles } from './lib/profiling';
import { problems } from './lib/run-log';
import { median, round, summarize, Summary } from './lib/stats';
import { formatTable, ratio, roundAll, row, Row } from './lib/table';
import type { LargeResult } from './phases/large-result';
import type { SseTimes } from './phases/sse';
import type { Throughput } from './phases/throughput';
import type { TokenValidation } from './phases/token-validation';

/** Everything run.ts measured. RSS figures in KiB. */
export interface BenchResults {
  gatewayStartMs: number;
  oauthMs: number;
  tokenValidation: TokenValidation;
  rssAfterStart: { gateway: number; bare: number };
  rssIdle: { gateway: number; bare: number };
  latency: PerTarget<Summary>;
  throughput: Throughput;
  sse: SseTimes;
  big: LargeResult;
  /** Empty unless BENCH_PROFILE=1. */
  profiling: Profiles;
  runtimeS: number;
}

interface TargetCheck {
  name: string;
  value: string;
  limit: string;
  met: boolean;
}

const mib = (kib: number) => kib / 1024;
const mb = (kib: number) => (kib * 1024) / 1e6;

export function buildReport(res: BenchResults): { text: string; json: unknown } {
  const { latency, sse, big, rssAfterStart, rssIdle, runtimeS } = res;
  const { throughput, cpu } = res.throughput;
  const tv = res.tokenValidation;
  const growth = big.growth;
  const NA = null;
  // One line per table row, so the list reads like the table it prints.
  // prettier-ignore
  const rows: Row[] = [
    row('tools/call latency p50', 'ms', perTarget((k) => latency[k].p50), 3),
    row('tools/call latency p90', 'ms', perTarget((k) => latency[k].p90), 3),
    row('tools/call latency p99', 'ms', perTarget((k) => latency[k].p99), 3),
    ...CFG.concurrency.map((c) => row(`throughput, ${c} clients`, 'calls/s', perTarget((k) => throughput[c][k].callsPerS), 0)),
    ...CFG.concurrency.map((c) => row(`  latency p99 at ${c} clients`, 'ms', perTarget((k) => throughput[c][k].latency.p99), 2)),
    row('CPU per call under load: proxy', 'µs', perTarget((k) => (k === 'direct' ? NA : (1000 * cpu[k].proxyMs) / cpu[k].calls)), 0),
    row('CPU per call under load: upstream', 'µs', perTarget((k) => (1000 * cpu[k].upstreamMs) / cpu[k].calls), 0),
    row('CPU per call under load: load generator', 'µs', perTarget((k) => (1000 * cpu[k].clientMs) / cpu[k].calls), 0),
    row('SSE time to first event (p50)', 'ms', perTarget((k) => median(sse[k].first)), 3),
    row(`SSE total, ${CFG.sseNotifications} notifications (p50)`, 'ms', perTarget((k) => median(sse[k].total)), 2),
    row('1 MiB result time (p50)', 'ms', perTarget((k) => median(big.sequentialMs[k])), 2),
    row(`${CFG.bigConcurrent} x 1 MiB concurrent (p50)`, 'ms', perTarget((k) => median(big.concurrentBatchMs[k])), 2),
    row('peak RSS growth per 1 MiB call, p50', 'MiB', { direct: NA, bare: mib(growth.bare.p50), gateway: mib(growth.gateway.p50) }, 2),
    row('peak RSS growth per 1 MiB call, max', 'MiB', { direct: NA, bare: mib(growth.bare.max), gateway: mib(growth.gateway.max) }, 2),
    row(`peak RSS growth over all ${CFG.bigRounds * CFG.bigPerRound} calls`, 'MiB', { direct: NA, bare: mib(big.sequentialWindow.bare.growthKiB), gateway: mib(big.sequentialWindow.gateway.growthKiB) }, 2),
    row(`peak RSS growth, ${CFG.bigConcurrent} x 1 MiB concurrent`, 'MiB', { direct: NA, bare: mib(big.concurrentWindow.bare.growthKiB), gateway: mib(big.concurrentWindow.gateway.growthKiB) }, 2),
    row('RSS right after start', 'MB', { direct: NA, bare: mb(rssAfterStart.bare), gateway: mb(rssAfterStart.gateway) }, 1),
    row('idle RSS after warm-up', 'MB', { direct: NA, bare: mb(rssIdle.bare), gateway: mb(rssIdle.gateway) }, 1),
    row('token check, cached', 'µs', { direct: NA, bare: NA, gateway: tv.cachedUs }, 2),
    row('token check, not cached (DB)', 'µs', { direct: NA, bare: NA, gateway: tv.uncachedUs }, 1),
    row('token check, unknown token (DB miss)', 'µs', { direct: NA, bare: NA, gateway: tv.unknownUs }, 1),
  ];

  const overheadP50 = latency.gateway.p50 - latency.direct.p50;
  const overheadP99 = latency.gateway.p99 - latency.direct.p99;
  const thr64 = throughput[64].gateway.callsPerS / throughput[64].bare.callsPerS;
  const sseDelta = median(sse.gateway.first) - median(sse.direct.first);
  const rssGrowth = mib(growth.gateway.max);
  const idleMb = Math.max(mb(rssIdle.gateway), mb(rssAfterStart.gateway));
  const checks: TargetCheck[] = [
    { name: 'gateway median overhead over direct', value: `${overheadP50.toFixed(3)} ms`, limit: '<= 0.6 ms', met: overheadP50 <= 0.6 },
    { name: 'gateway p99 overhead over direct', value: `${overheadP99.toFixed(3)} ms`, limit: '<= 2 ms', met: overheadP99 <= 2 },
    { name: 'throughput, 64 clients, gateway / bare proxy', value: `${(thr64 * 100).toFixed(1)} %`, limit: '>= 95 %', met: thr64 >= 0.95 },
    { name: 'SSE first event, gateway - direct', value: `${sseDelta.toFixed(3)} ms`, limit: '<= 2 ms', met: sseDelta <= 2 },
    { name: 'gateway peak RSS growth during a 1 MiB result (max)', value: `${rssGrowth.toFixed(2)} MiB`, limit: '< 5 MiB', met: rssGrowth < 5 },
    { name: 'gateway idle RSS (max of after start / after warm-up)', value: `${idleMb.toFixed(1)} MB`, limit: '<= 120 MB', met: idleMb <= 120 },
    { name: 'bench runtime (run.ts, excluding build:server)', value: `${runtimeS.toFixed(1)} s`, limit: '< 180 s', met: runtimeS < 180 },
  ];

  return { text: formatText(res, rows, checks), json: toJson(res, rows, checks) };
}

function formatText(res: BenchResults, rows: Row[], checks: TargetCheck[]): string {
  const out: string[] = [];
  out.push('');
  out.push(
    `Gatehouse benchmark  ${new Date().toISOString()}  node ${process.version}  ${cpus().length} CPU  ${gitDescribe()}${PROFILE ? '  [CPU PROFILED: numbers inflated]' : ''}`,
  );
  out.push(
    `workload: Streamable HTTP tools/call in an MCP session; latency ${CFG.latencyRounds}x${CFG.latencyPerRound} calls/target (1 client); ` +
      `throughput ${CFG.throughputRounds}x${CFG.throughputDurationS} s/target; SSE ${CFG.sseRounds * CFG.ssePerRound} calls/target; ` +
      `1 MiB ${CFG.bigRounds * CFG.bigPerRound} calls/target; all interleaved`,
  );
  out.push('');
  out.push(formatTable(rows));
  out.push('');
  out.push('Targets');
  const w = Math.max(...checks.map((t) => t.name.length));
  for (const t of checks) out.push(`  [${t.met ? ' met ' : ' NOT '}] ${t.name.padEnd(w)}  ${t.value.padStart(10)}  (target ${t.limit})`);
  out.push(`  ${checks.filter((t) => t.met).length}/${checks.length} met`);
  if (problems.length) {
    out.push('');
    out.push('Problems during the run:');
    for (const p of problems) out.push(`  - ${p}`);
  }
  if (PROFILE) {
    out.push('');
    out.push('CPU profiles (latency + throughput phases; .cpuprofile files in bench/results/)');
    for (const [name, s] of Object.entries(res.profiling.profiles)) out.push(formatProfile(name, s));
    for (const [name, m] of Object.entries(res.profiling.memorySnapshots)) out.push(formatMemory(name, m));
  }
  out.push('');
  out.push(
    `OAuth flow ${res.oauthMs.toFixed(0)} ms; gateway ready ${res.gatewayStartMs.toFixed(0)} ms after spawn; total ${res.runtimeS.toFixed(1)} s. JSON: bench/results/latest.json`,
  );
  return out.join('\n') + '\n';
}

function toJson(res: BenchResults, rows: Row[], checks: TargetCheck[]): unknown {
  const { latency, sse, big } = res;
  const { throughput, runs, cpu } = res.throughput;
  return {
    schema: 1,
    date: new Date().toISOString(),
    git: gitDescribe(),
    node: process.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    totalMemMiB: Math.round(totalmem() / 2 ** 20),
    profiled: PROFILE,
    config: CFG,
    runtimeS: round(res.runtimeS, 1),
    table: rows.map((r) => ({
      metric: r.metric,
      unit: r.unit,
      ...roundAll(r.values),
      gatewayOverDirect: ratio(r.values.gateway, r.values.direct),
      gatewayOverBare: ratio(r.values.gateway, r.values.bare),
    })),
    targets: checks,
    raw: {
      latency: perTarget((k) => roundAll(latency[k])),
      throughput: Object.fromEntries(
        CFG.concurrency.map((c) => [
          c,
          perTarget((k) => ({
            callsPerS: round(throughput[c][k].callsPerS, 1),
            latency: roundAll(throughput[c][k].latency),
            runs: runs[c][k].map((x) => ({ calls: x.requests, s: x.durationS })),
          })),
        ]),
      ),
      sse: perTarget((k) => ({ firstEventMs: roundAll(summarize(sse[k].first)), totalMs: roundAll(summarize(sse[k].total)) })),
      big: perTarget((k) => ({ sequentialMs: roundAll(summarize(big.sequentialMs[k])), concurrentBatchMs: roundAll(summarize(big.concurrentBatchMs[k])) })),
      rss: {
        afterStartKiB: res.rssAfterStart,
        idleKiB: res.rssIdle,
        perCallGrowthKiB: big.perCallGrowthKiB,
        bigSequentialWindow: big.sequentialWindow,
        bigConcurrentWindow: big.concurrentWindow,
      },
      cpuUnderLoad: perTarget((k) => roundAll(cpu[k])),
      tokenValidation: roundAll(res.tokenValidation),
      oauthMs: round(res.oauthMs, 0),
      gatewayStartMs: round(res.gatewayStartMs, 0),
      profiles: PROFILE ? res.profiling.profiles : undefined,
      memoryAtIdle: PROFILE ? res.profiling.memorySnapshots : undefined,
    },
    problems,
  };
}

function gitDescribe(): string {
  try {
    const rev = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'server/src'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
    return `git ${rev}${dirty ? ' (server/src modified)' : ''}`;
  } catch {
    return 'git ?';
  }
}
