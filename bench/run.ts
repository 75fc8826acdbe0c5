/**
 * `npm run bench`: direct upstream vs bare reverse proxy vs Gatehouse, same workload, one run,
 * interleaved so machine drift hits all three. See bench/README.md.
 *
 * Env: BENCH_PROFILE=1 also CPU-profiles the gateway and the bare proxy during the latency and
 * throughput phases (numbers are then inflated by the profiler) and prints their top self time.
 *
 * The order of the phases is part of what is measured: token validation runs while the servers are
 * idle, idle RSS is read after the warm-up, and the profiler spans exactly latency + throughput.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROFILE, RESULTS_DIR } from './config';
import { createContext } from './lib/context';
import { inTempDir, runMain } from './lib/main';
import { stopAll } from './lib/processes';
import { Profiles, startProfiling, stopProfiling } from './lib/profiling';
import { elapsedS, log, problems, startClock } from './lib/run-log';
import { startServers } from './lib/servers';
import { measureIdleRss } from './phases/idle-rss';
import { measureLargeResult } from './phases/large-result';
import { runOAuthFlow } from './phases/oauth-flow';
import { measureSse } from './phases/sse';
import { measureThroughput } from './phases/throughput';
import { measureTokenValidation } from './phases/token-validation';
import { measureToolsCallLatency } from './phases/tools-call-latency';
import { bundleReport, measureBundle } from './phases/bundle';
import { measureToolPolicy, toolPolicyReport } from './phases/tool-policy';
import { warmUp } from './phases/warm-up';
import { buildReport } from './report';

startClock();

async function main(): Promise<void> {
  mkdirSync(RESULTS_DIR, { recursive: true });
  await inTempDir('gatehouse-bench-', async (tmp) => {
    log(`starting upstream fixture (session mode), bare proxy, gateway and token-validation processes${PROFILE ? ' [CPU profiling ON]' : ''}`);
    const servers = await startServers(tmp);
    const { upstream, bare, gateway } = servers;
    log(`upstream ${upstream.url}, bare proxy ${bare.url}, gateway ${gateway.url} (ready in ${gateway.startMs.toFixed(0)} ms)`);
    const rssAfterStart = await measureIdleRss(servers);

    const { token, oauthMs } = await runOAuthFlow(gateway.url);
    const tokenValidation = await measureTokenValidation(servers.tokenValidation);

    const ctx = createContext(servers, token);
    await warmUp(ctx);
    const rssIdle = await measureIdleRss(servers);

    if (PROFILE) await startProfiling(gateway.child, bare.child);
    const latency = await measureToolsCallLatency(ctx);
    const throughput = await measureThroughput(ctx);
    const profiling: Profiles = PROFILE ? await stopProfiling(gateway.child, bare.child) : { profiles: {}, memorySnapshots: {} };

    const sse = await measureSse(ctx);
    const big = await measureLargeResult(ctx);
    for (const a of Object.values(ctx.agents)) a.destroy();

    // Logged by bench/bare-proxy.ts; includes resets around autocannon's abrupt end of duration runs.
    const bareErrors = [...bare.child.tail().matchAll(/bare-proxy: proxy error (\S+)/g)].map((m) => m[1]);
    if (bareErrors.length) problems.push(`bare proxy logged ${bareErrors.length} upstream error(s) (not necessarily seen by a client): ${[...new Set(bareErrors)].join(', ')}`);
    const runtimeS = elapsedS();
    log('done; stopping processes');
    await stopAll();

    // After the other processes stopped: it runs a gateway in this process, on the same 2 cores.
    const toolPolicy = await measureToolPolicy();
    // The bundle (/mcp) against its upstreams directly, likewise in this process; fewer rounds than bench/bundle.ts (about 10 s).
    log('bundle: tools/call and tools/list through /mcp vs direct');
    const bundle = await measureBundle({ rounds: 2, callsPerRound: 200, listsPerRound: 30 });

    const report = buildReport({ gatewayStartMs: gateway.startMs, oauthMs, tokenValidation, rssAfterStart, rssIdle, latency, throughput, sse, big, profiling, runtimeS });
    process.stdout.write(
      `${report.text}${toolPolicyReport(toolPolicy)}\nBundle (/mcp, 3 upstreams of 50 tools, in-process gateway; bench/bundle.ts runs it longer)\n${bundleReport(bundle)}`,
    );
    writeFileSync(join(RESULTS_DIR, 'latest.json'), JSON.stringify({ ...(report.json as object), toolPolicy, bundle }, null, 2) + '\n');
  });
}

runMain('bench', main);
