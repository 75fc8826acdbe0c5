/**
 * `npm run bench`: direct upstream vs bare reverse proxy vs Gatehouse, same workload, one run,
 * interleaved so machine drift hits all three. See bench/README.md.
 *
 * Env: BENCH_PROFILE=1 also CPU-profiles the gateway and the bare proxy during the latency and
 * throughput phases (numbers are then inflated by the profiler) and prints their top self time.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { connectWithOAuth } from '../test/helpers/oauth-client';
import { formatProfile, ProfileSummary, summarizeProfile } from './lib/cpuprofile';
import { agentFor, bigCall, cannon, CannonResult, closeSession, openSession, sseCall, Target, TargetKey } from './lib/mcp-http';
import { Child, freePort, procMem, resetPeakRss, spawnChild, stopAll, stopChild, waitForJsonUrl, waitForLine } from './lib/processes';
import { RssSampler } from './lib/rss-sampler';
import { median, round, summarize, Summary } from './lib/stats';

const ROOT = resolve(__dirname, '..');
const RESULTS_DIR = join(ROOT, 'bench', 'results');
const PROFILE = process.env.BENCH_PROFILE === '1';
const TS_NODE = ['--require', 'ts-node/register/transpile-only'];
const ADMIN = { email: 'bench-admin@example.test', password: 'bench horse battery staple' };

/** The workload. Sized so `npm run bench` stays well under 3 minutes on 2 cores. */
const CFG = {
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

const KEYS: TargetKey[] = ['direct', 'bare', 'gateway'];
type PerTarget<T> = Record<TargetKey, T>;
const perTarget = <T>(f: (k: TargetKey) => T): PerTarget<T> => ({ direct: f('direct'), bare: f('bare'), gateway: f('gateway') });
/** Round r runs the targets in a rotated order, so none is always first or last. */
const rotated = <T>(xs: T[], r: number): T[] => xs.map((_, i) => xs[(i + r) % xs.length]);

const problems: string[] = [];
const log = (msg: string) => process.stderr.write(`[bench ${((performance.now() - T0) / 1000).toFixed(1).padStart(5)} s] ${msg}\n`);
const T0 = performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function check(label: string, r: CannonResult, total?: number): void {
  const bad = r.non2xx + r.errors + r.timeouts + r.mismatches;
  if (bad) {
    const msg =
      `${label}: ${r.non2xx} non-2xx, ${r.errors} errors, ${r.timeouts} timeouts, ${r.mismatches} wrong bodies ` +
      `of ${total ?? r.requests + bad} (status codes ${JSON.stringify(r.statusCodes)})`;
    problems.push(msg);
    log(`WARNING ${msg}`);
    if (!r.requests) throw new Error(`${label}: no successful call at all`);
  }
}

// ---------------------------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------------------------

function profileArgs(name: string, dir: string): { args: string[]; env: Record<string, string> } {
  if (!PROFILE) return { args: [], env: {} };
  return { args: ['--require', join(ROOT, 'bench', 'profile-hook.js')], env: { BENCH_PROFILE_FILE: join(dir, `${name}.cpuprofile`) } };
}

async function startUpstream(tmp: string): Promise<{ child: Child; url: string }> {
  // Session mode: one Mcp-Session-Id per target and phase (stateless mode builds a new McpServer per
  // request, which made the upstream itself the bottleneck at ~850 calls/s on 2 cores).
  const child = spawnChild('upstream', [...TS_NODE, 'test/fixtures/upstream-mcp-server.ts', '--port', '0'], {
    cwd: ROOT,
    logFile: join(tmp, 'upstream.log'),
  });
  return { child, url: await waitForJsonUrl(child) };
}

async function startBareProxy(tmp: string, upstreamUrl: string): Promise<{ child: Child; url: string }> {
  const prof = profileArgs('bare-proxy', RESULTS_DIR);
  // Plain JS like the gateway's dist/: under ts-node the proxy's RSS would include the TypeScript compiler.
  const script = transpileToResults('bench/bare-proxy.ts');
  const child = spawnChild('bare proxy', [...prof.args, script, '--target', new URL(upstreamUrl).origin], {
    cwd: ROOT,
    env: prof.env,
    logFile: join(tmp, 'bare-proxy.log'),
  });
  const base = await waitForJsonUrl(child);
  return { child, url: base + new URL(upstreamUrl).pathname };
}

/** Kept in step with package.json "start:prod" and the Dockerfile's CMD. */
const GATEWAY_NODE_FLAGS = ['--max-semi-space-size=4'];

async function startGateway(tmp: string, upstreamUrl: string): Promise<{ child: Child; base: string; url: string; startMs: number }> {
  const main = join(ROOT, 'dist', 'server', 'main.js');
  if (!existsSync(main)) throw new Error(`${main} not found: run "npm run build:server" first (npm run bench does)`);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const dataDir = join(tmp, 'gateway-data');
  const configFile = join(tmp, 'gatehouse.yaml');
  // JSON is valid YAML.
  writeFileSync(
    configFile,
    JSON.stringify({
      rate_limit: { oauth_per_minute: 100_000, login_per_minute: 100_000, mcp_per_minute: 0 },
      upstreams: [{ slug: 'bench', url: upstreamUrl, auth: { mode: 'headers', headers: { 'X-Api-Key': 'test' } } }],
    }),
  );
  const prof = profileArgs('gateway', RESULTS_DIR);
  const t = performance.now();
  // The same Node flags as `npm run start:prod` and the Docker image.
  const child = spawnChild('gateway', [...prof.args, ...GATEWAY_NODE_FLAGS, main], {
    cwd: ROOT,
    logFile: join(tmp, 'gateway.log'),
    env: {
      ...prof.env,
      GATEHOUSE_CONFIG: configFile,
      DATA_DIR: dataDir,
      PORT: String(port),
      HOST: '127.0.0.1',
      PUBLIC_URL: base,
      GATEHOUSE_ADMIN_EMAIL: ADMIN.email,
      GATEHOUSE_ADMIN_PASSWORD: ADMIN.password,
    },
  });
  await waitForLine(child, /Gatehouse listening/);
  for (let i = 0; ; i++) {
    const status = await httpStatus(`${base}/healthz`).catch(() => 0);
    if (status === 200) break;
    if (i > 100) throw new Error(`gateway /healthz never answered 200 (last ${status}):\n${child.tail()}`);
    await sleep(50);
  }
  return { child, base, url: `${base}/mcp/bench`, startMs: performance.now() - t };
}

/** Transpiles one TS file into bench/results/.build/ (modules still resolve from the repo's node_modules). */
function transpileToResults(rel: string): string {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const ts = require('typescript') as typeof import('typescript');
  const out = ts.transpileModule(readFileSync(join(ROOT, rel), 'utf8'), {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
    fileName: rel,
  });
  const dir = join(RESULTS_DIR, '.build');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, rel.split('/').pop()!.replace(/\.ts$/, '.js'));
  writeFileSync(file, out.outputText);
  return file;
}

function httpStatus(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
      .on('error', reject);
  });
}

async function startTokenValidation(tmp: string, upstreamUrl: string): Promise<Child> {
  const child = spawnChild('token-validation', [...TS_NODE, 'bench/token-validation.ts', '--upstream', upstreamUrl], {
    cwd: ROOT,
    logFile: join(tmp, 'token-validation.log'),
  });
  await waitForLine(child, /"ready":true/, 90_000);
  return child;
}

interface TokenValidation {
  cachedUs: number;
  uncachedUs: number;
  unknownUs: number;
  sha256Us: number;
}

async function runTokenValidation(child: Child): Promise<TokenValidation> {
  const line = waitForLine(child, /"result"/, 60_000);
  child.proc.stdin!.end('go\n');
  const parsed = JSON.parse(await line).result as TokenValidation;
  await stopChild(child);
  return parsed;
}

/** CPU time (user + system, all threads) of a process in ms, from /proc/<pid>/stat (10 ms resolution). */
const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
}

const mib = (kib: number) => kib / 1024;
const mb = (kib: number) => (kib * 1024) / 1e6;

// ---------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const tmp = mkdtempSync(join(tmpdir(), 'gatehouse-bench-'));
  let sampler: RssSampler | undefined;
  try {
    log(`starting upstream fixture (session mode), bare proxy, gateway and token-validation processes${PROFILE ? ' [CPU profiling ON]' : ''}`);
    const upstream = await startUpstream(tmp);
    const tvPromise = startTokenValidation(tmp, upstream.url);
    tvPromise.catch(() => undefined);
    const [bare, gateway] = await Promise.all([startBareProxy(tmp, upstream.url), startGateway(tmp, upstream.url)]);
    log(`upstream ${upstream.url}, bare proxy ${bare.url}, gateway ${gateway.url} (ready in ${gateway.startMs.toFixed(0)} ms)`);
    await sleep(1000);
    const rssAfterStart = { gateway: procMem(gateway.child.pid).rssKiB, bare: procMem(bare.child.pid).rssKiB };

    // One real OAuth flow: discovery, DCR, authorize with login + consent, PKCE token exchange.
    log('OAuth flow (discovery, registration, login, consent, token exchange)');
    const tOauth = performance.now();
    const { client, provider } = await connectWithOAuth(gateway.url, ADMIN, { clientName: 'gatehouse-bench' });
    const echo = await client.callTool({ name: 'echo', arguments: { text: 'through the gateway' } });
    await client.close();
    const token = provider.tokens()?.access_token;
    if (!token) throw new Error('the OAuth flow yielded no access token');
    if (!JSON.stringify(echo).includes('through the gateway')) throw new Error(`echo through the gateway failed: ${JSON.stringify(echo)}`);
    const oauthMs = performance.now() - tOauth;

    // Token validation alone, while every other process is idle.
    log('token validation (in-process TokensService.verifyAccessToken)');
    const tv = await runTokenValidation(await tvPromise);

    const targets: PerTarget<Target> = {
      direct: { key: 'direct', label: 'direct', url: upstream.url },
      bare: { key: 'bare', label: 'bare proxy', url: bare.url },
      gateway: { key: 'gateway', label: 'gateway', url: gateway.url },
    };
    const order = KEYS.map((k) => targets[k]);

    // Each phase uses a fresh MCP session per target (initialize + notifications/initialized through
    // that target), deleted at the end of the phase so the upstream's event store stays small.
    const phase = async <T>(fn: () => Promise<T>): Promise<T> => {
      for (const t of order) await openSession(t, token);
      try {
        return await fn();
      } finally {
        for (const t of order) await closeSession(t, token).catch((e) => problems.push(String(e)));
      }
    };

    // Warm-up: JIT, keep-alive pools (up to 64 upstream sockets), audit writer.
    log('warm-up');
    const agents = perTarget(() => agentFor(1));
    await phase(async () => {
      for (const t of order) {
        log(`  warm-up ${t.label}`);
        check(`warm-up ${t.label}`, await cannon(t, token, { connections: 1, amount: CFG.warmupCalls, verify: true }));
        check(`warm-up ${t.label} (64 clients)`, await cannon(t, token, { connections: 64, durationS: 1, verify: true }));
        await sseCall(t, token, agents[t.key], 10, 0);
        await bigCall(t, token, agents[t.key], CFG.bigBytes);
      }
    });
    await sleep(1000);
    const rssIdle = { gateway: procMem(gateway.child.pid).rssKiB, bare: procMem(bare.child.pid).rssKiB };

    if (PROFILE) {
      gateway.child.proc.kill('SIGUSR2');
      bare.child.proc.kill('SIGUSR2');
      await sleep(200);
    }

    // 1. Latency: 1 client, rounds of 500 calls per target, interleaved.
    log(`latency: ${CFG.latencyRounds} rounds x ${CFG.latencyPerRound} calls per target, 1 client`);
    const lat = perTarget<number[]>(() => []);
    await phase(async () => {
      for (let r = 0; r < CFG.latencyRounds; r++) {
        for (const t of rotated(order, r)) {
          // One extra call: the first one of each run pays for the TCP connect, and is dropped.
          const res = await cannon(t, token, { connections: 1, amount: CFG.latencyPerRound + 1, verify: true, keepLatencies: true });
          check(`latency ${t.label} round ${r + 1}`, res, CFG.latencyPerRound + 1);
          lat[t.key].push(...res.latencies.slice(1));
        }
      }
    });
    const latency = perTarget((k) => summarize(lat[k]));

    // 2. Throughput: 16 and 64 clients, rounds interleaved.
    log(`throughput: ${CFG.concurrency.join(' and ')} clients, ${CFG.throughputRounds} rounds x ${CFG.throughputDurationS} s per target`);
    const thrRuns: Record<number, PerTarget<CannonResult[]>> = {};
    for (const c of CFG.concurrency) thrRuns[c] = perTarget(() => []);
    // CPU used per call by each process in the path, over all throughput runs of that target.
    const cpu = perTarget(() => ({ proxyMs: 0, upstreamMs: 0, clientMs: 0, calls: 0 }));
    const proxyPid: PerTarget<number | null> = { direct: null, bare: bare.child.pid, gateway: gateway.child.pid };
    await phase(async () => {
      for (let r = 0; r < CFG.throughputRounds; r++) {
        for (const [ci, c] of CFG.concurrency.entries()) {
          for (const t of rotated(order, r + ci)) {
            const pid = proxyPid[t.key];
            const before = { proxy: pid ? cpuMs(pid) : 0, upstream: cpuMs(upstream.child.pid), client: process.cpuUsage() };
            const res = await cannon(t, token, { connections: c, durationS: CFG.throughputDurationS, keepLatencies: true });
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
    const throughput: Record<number, PerTarget<{ callsPerS: number; latency: Summary }>> = {};
    for (const c of CFG.concurrency) {
      throughput[c] = perTarget((k) => {
        const runs = thrRuns[c][k];
        const calls = runs.reduce((a, x) => a + x.requests, 0);
        const secs = runs.reduce((a, x) => a + x.durationS, 0);
        return { callsPerS: calls / secs, latency: summarize(runs.flatMap((x) => x.latencies)) };
      });
    }

    let profiles: Record<string, ProfileSummary> = {};
    if (PROFILE) {
      for (const c of [gateway.child, bare.child]) c.proc.kill('SIGUSR2');
      profiles = await collectProfiles();
    }

    // 3. SSE: 100 progress notifications, time to first event and to the end.
    log(`SSE: ${CFG.sseRounds} rounds x ${CFG.ssePerRound} calls of count(n=${CFG.sseNotifications}, delayMs=${CFG.sseDelayMs}) per target`);
    const sse = perTarget<{ first: number[]; total: number[] }>(() => ({ first: [], total: [] }));
    await phase(async () => {
      for (let r = 0; r < CFG.sseRounds; r++) {
        for (const t of rotated(order, r)) {
          for (let i = 0; i < CFG.ssePerRound; i++) {
            const res = await sseCall(t, token, agents[t.key], CFG.sseNotifications, CFG.sseDelayMs);
            if (res.progressEvents !== CFG.sseNotifications || !res.gotResult) {
              problems.push(`SSE ${t.label}: ${res.progressEvents} progress events, result ${res.gotResult}`);
            }
            sse[t.key].first.push(res.firstEventMs);
            sse[t.key].total.push(res.totalMs);
          }
        }
      }
    });

    // 4. 1 MiB results: time, and peak RSS growth of each proxy process (streams must not be buffered whole).
    //    Per call: VmHWM is reset right before the call and read right after it, so
    //    growth = peak during that call - RSS just before it. Over the whole phase: a 2 ms sampler.
    log(
      `1 MiB result: ${CFG.bigWarmupRounds} warm-up + ${CFG.bigRounds} rounds x ${CFG.bigPerRound} sequential calls per target, ` +
        `then ${CFG.bigConcurrentRounds} x ${CFG.bigConcurrent} concurrent`,
    );
    const proxies: Record<'bare' | 'gateway', number> = { bare: bare.child.pid, gateway: gateway.child.pid };
    const hwmWorks = resetPeakRss(proxies.bare) && resetPeakRss(proxies.gateway);
    if (!hwmWorks) problems.push('cannot reset VmHWM (clear_refs): per-call peak RSS falls back to the 2 ms sampler');
    sampler = new RssSampler(Object.values(proxies));
    const window = async (fn: () => Promise<void>) => {
      await sleep(300);
      const base = { bare: procMem(proxies.bare).rssKiB, gateway: procMem(proxies.gateway).rssKiB };
      sampler!.start();
      await fn();
      const sampled = sampler!.stop();
      const out = {} as Record<'bare' | 'gateway', { baseKiB: number; peakKiB: number; growthKiB: number }>;
      for (const k of ['bare', 'gateway'] as const) {
        const peak = sampled.peaksKiB[proxies[k]];
        out[k] = { baseKiB: base[k], peakKiB: peak, growthKiB: peak - base[k] };
      }
      return { ...out, samples: sampled.samples };
    };
    const bigMs = perTarget<number[]>(() => []);
    const bigGrowth = { bare: [] as number[], gateway: [] as number[] };
    const bigConcAgents = perTarget(() => agentFor(CFG.bigConcurrent));
    const bigConcMs = perTarget<number[]>(() => []);
    const { seq: bigSeqRss, conc: bigConcRss } = await phase(async () => {
      for (let r = 0; r < CFG.bigWarmupRounds; r++) {
        for (const t of order) for (let i = 0; i < CFG.bigPerRound; i++) await bigCall(t, token, agents[t.key], CFG.bigBytes);
      }
      const seq = await window(async () => {
        for (let r = 0; r < CFG.bigRounds; r++) {
          for (const t of rotated(order, r)) {
            for (let i = 0; i < CFG.bigPerRound; i++) {
              const pid = t.key === 'direct' ? 0 : proxies[t.key];
              const before = pid && hwmWorks ? procMem(pid).rssKiB : 0;
              if (pid && hwmWorks) resetPeakRss(pid);
              bigMs[t.key].push((await bigCall(t, token, agents[t.key], CFG.bigBytes)).ms);
              if (pid && hwmWorks) bigGrowth[t.key as 'bare' | 'gateway'].push(procMem(pid).hwmKiB - before);
            }
          }
        }
      });
      const conc = await window(async () => {
        for (let r = 0; r < CFG.bigConcurrentRounds; r++) {
          for (const t of rotated(order, r)) {
            const t0 = performance.now();
            await Promise.all(Array.from({ length: CFG.bigConcurrent }, () => bigCall(t, token, bigConcAgents[t.key], CFG.bigBytes)));
            bigConcMs[t.key].push(performance.now() - t0);
          }
        }
      });
      return { seq, conc };
    });
    await sampler.close();
    sampler = undefined;
    for (const a of [...Object.values(agents), ...Object.values(bigConcAgents)]) a.destroy();
    // Per call when VmHWM can be reset, else the whole sequential window.
    const perCallGrowthKiB = (k: 'bare' | 'gateway') =>
      hwmWorks ? summarize(bigGrowth[k]) : ({ p50: bigSeqRss[k].growthKiB, max: bigSeqRss[k].growthKiB } as Summary);
    const growth = { bare: perCallGrowthKiB('bare'), gateway: perCallGrowthKiB('gateway') };
    // Logged by bench/bare-proxy.ts; includes resets around autocannon's abrupt end of duration runs.
    const bareErrors = [...bare.child.tail().matchAll(/bare-proxy: proxy error (\S+)/g)].map((m) => m[1]);
    if (bareErrors.length) problems.push(`bare proxy logged ${bareErrors.length} upstream error(s) (not necessarily seen by a client): ${[...new Set(bareErrors)].join(', ')}`);
    const runtimeS = (performance.now() - T0) / 1000;
    log('done; stopping processes');
    await stopAll();

    // -------------------------------------------------------------------------------------------
    // Report
    // -------------------------------------------------------------------------------------------
    const NA = null;
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
      row('1 MiB result time (p50)', 'ms', perTarget((k) => median(bigMs[k])), 2),
      row(`${CFG.bigConcurrent} x 1 MiB concurrent (p50)`, 'ms', perTarget((k) => median(bigConcMs[k])), 2),
      row('peak RSS growth per 1 MiB call, p50', 'MiB', { direct: NA, bare: mib(growth.bare.p50), gateway: mib(growth.gateway.p50) }, 2),
      row('peak RSS growth per 1 MiB call, max', 'MiB', { direct: NA, bare: mib(growth.bare.max), gateway: mib(growth.gateway.max) }, 2),
      row(`peak RSS growth over all ${CFG.bigRounds * CFG.bigPerRound} calls`, 'MiB', { direct: NA, bare: mib(bigSeqRss.bare.growthKiB), gateway: mib(bigSeqRss.gateway.growthKiB) }, 2),
      row(`peak RSS growth, ${CFG.bigConcurrent} x 1 MiB concurrent`, 'MiB', { direct: NA, bare: mib(bigConcRss.bare.growthKiB), gateway: mib(bigConcRss.gateway.growthKiB) }, 2),
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

    const out: string[] = [];
    out.push('');
    out.push(`Gatehouse benchmark  ${new Date().toISOString()}  node ${process.version}  ${cpus().length} CPU  ${gitDescribe()}${PROFILE ? '  [CPU PROFILED: numbers inflated]' : ''}`);
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
      for (const [name, s] of Object.entries(profiles)) out.push(formatProfile(name, s));
      for (const [name, m] of Object.entries(memorySnapshots)) out.push(formatMemory(name, m));
    }
    out.push('');
    out.push(`OAuth flow ${oauthMs.toFixed(0)} ms; gateway ready ${gateway.startMs.toFixed(0)} ms after spawn; total ${runtimeS.toFixed(1)} s. JSON: bench/results/latest.json`);
    process.stdout.write(out.join('\n') + '\n');

    const json = {
      schema: 1,
      date: new Date().toISOString(),
      git: gitDescribe(),
      node: process.version,
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model,
      totalMemMiB: Math.round(totalmem() / 2 ** 20),
      profiled: PROFILE,
      config: CFG,
      runtimeS: round(runtimeS, 1),
      table: rows.map((r) => ({ metric: r.metric, unit: r.unit, ...roundAll(r.values), gatewayOverDirect: ratio(r.values.gateway, r.values.direct), gatewayOverBare: ratio(r.values.gateway, r.values.bare) })),
      targets: checks,
      raw: {
        latency: perTarget((k) => roundAll(latency[k] as unknown as Record<string, number>)),
        throughput: Object.fromEntries(
          CFG.concurrency.map((c) => [
            c,
            perTarget((k) => ({
              callsPerS: round(throughput[c][k].callsPerS, 1),
              latency: roundAll(throughput[c][k].latency as unknown as Record<string, number>),
              runs: thrRuns[c][k].map((x) => ({ calls: x.requests, s: x.durationS })),
            })),
          ]),
        ),
        sse: perTarget((k) => ({ firstEventMs: roundAll(summarize(sse[k].first) as any), totalMs: roundAll(summarize(sse[k].total) as any) })),
        big: perTarget((k) => ({ sequentialMs: roundAll(summarize(bigMs[k]) as any), concurrentBatchMs: roundAll(summarize(bigConcMs[k]) as any) })),
        rss: {
          afterStartKiB: rssAfterStart,
          idleKiB: rssIdle,
          perCallGrowthKiB: hwmWorks ? { bare: bigGrowth.bare, gateway: bigGrowth.gateway } : null,
          bigSequentialWindow: bigSeqRss,
          bigConcurrentWindow: bigConcRss,
        },
        cpuUnderLoad: perTarget((k) => roundAll(cpu[k])),
        tokenValidation: roundAll(tv as unknown as Record<string, number>),
        oauthMs: round(oauthMs, 0),
        gatewayStartMs: round(gateway.startMs, 0),
        profiles: PROFILE ? profiles : undefined,
        memoryAtIdle: PROFILE ? memorySnapshots : undefined,
      },
      problems,
    };
    writeFileSync(join(RESULTS_DIR, 'latest.json'), JSON.stringify(json, null, 2) + '\n');
  } finally {
    if (sampler) await sampler.close().catch(() => undefined);
    await stopAll();
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** process.memoryUsage() etc. of the profiled processes at idle (written by bench/profile-hook.js). */
const memorySnapshots: Record<string, any> = {};

function formatMemory(name: string, m: any): string {
  const MB = (b: number) => `${(b / 1e6).toFixed(1)} MB`;
  const mu = m.memoryUsage;
  const top = Object.entries(m.modulesByPackage as Record<string, number>)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 8)
    .map(([p, n]) => `${p} ${n}`)
    .join(', ');
  return (
    `${name} at idle: rss ${MB(mu.rss)}, V8 heap used ${MB(mu.heapUsed)} of ${MB(mu.heapTotal)}, external ${MB(mu.external)} ` +
    `(array buffers ${MB(mu.arrayBuffers)}); ${m.modules} modules loaded (${top})`
  );
}

async function collectProfiles(): Promise<Record<string, ProfileSummary>> {
  const out: Record<string, ProfileSummary> = {};
  for (const name of ['gateway', 'bare-proxy']) {
    const file = join(RESULTS_DIR, `${name}.cpuprofile`);
    for (let i = 0; i < 200 && !existsSync(file + '.done'); i++) await sleep(50);
    if (!existsSync(file)) {
      problems.push(`no CPU profile written for ${name}`);
      continue;
    }
    rmSync(file + '.done', { force: true });
    out[name] = summarizeProfile(file, 15);
    if (existsSync(file + '.mem.json')) memorySnapshots[name] = JSON.parse(readFileSync(file + '.mem.json', 'utf8'));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Table
// ---------------------------------------------------------------------------------------------

interface Row {
  metric: string;
  unit: string;
  values: PerTarget<number | null>;
  digits: number;
}
interface TargetCheck {
  name: string;
  value: string;
  limit: string;
  met: boolean;
}

function row(metric: string, unit: string, values: PerTarget<number | null>, digits: number): Row {
  return { metric, unit, values, digits };
}

function ratio(a: number | null, b: number | null): number | null {
  return a === null || b === null || !b ? null : round(a / b, 3);
}

function roundAll<T extends Record<string, any>>(o: T): T {
  const r: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) r[k] = typeof v === 'number' ? round(v, 4) : v;
  return r as T;
}

function formatTable(rows: Row[]): string {
  const header = ['metric', 'unit', 'direct', 'bare proxy', 'gateway', 'gw/direct', 'gw/bare'];
  const fmt = (v: number | null, d: number) => (v === null || !Number.isFinite(v) ? '-' : v.toFixed(d));
  const fmtRatio = (v: number | null) => (v === null ? '-' : `${v.toFixed(2)}x`);
  const body = rows.map((r) => [
    r.metric,
    r.unit,
    fmt(r.values.direct, r.digits),
    fmt(r.values.bare, r.digits),
    fmt(r.values.gateway, r.digits),
    fmtRatio(ratio(r.values.gateway, r.values.direct)),
    fmtRatio(ratio(r.values.gateway, r.values.bare)),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

function gitDescribe(): string {
  try {
    const rev = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'server/src'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    return `git ${rev}${dirty ? ' (server/src modified)' : ''}`;
  } catch {
    return 'git ?';
  }
}

main().then(
  () => process.exit(0),
  async (err) => {
    process.stderr.write(`\nbench failed: ${(err as Error)?.stack ?? String(err)}\n`);
    await stopAll().catch(() => undefined);
    process.exit(1);
  },
);
