/**
 * Two builds of the gateway side by side: `AB_A=<dir>/dist AB_B=<dir>/dist node --require
 * ts-node/register/transpile-only bench/ab.ts`. Each build is a `dist/` (of `npm run build:server`)
 * next to a `node_modules` it can resolve packages from (e.g. a `git worktree` or `git archive` of
 * another commit, built there). Both gateways proxy the same upstream fixture; each gets a token
 * through the real OAuth flow and the bench's warm-up; then 3 s autocannon rounds alternate between
 * them (AB_ROUNDS, default 6; AB_CONNS clients, default 16) and the CPU each used per call is
 * compared. Running both at once makes the load of a shared machine hit both alike, which
 * `npm run bench`'s wall-clock figures cannot: use it to tell whether a change to the hot path helps.
 * Prints CPU per call, calls/s and RSS (1.5 s after start, 1 s after the warm-up) of each.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ADMIN, ROOT } from './config';
import { BenchContext, createContext, withSessions } from './lib/context';
import { cannon } from './lib/mcp-http';
import { Child, cpuMs, freePort, procMem, spawnChild, stopAll, waitForLine } from './lib/processes';
import { sleep } from './lib/run-log';
import { startServers } from './lib/servers';
import { runOAuthFlow } from './phases/oauth-flow';
import { warmUp } from './phases/warm-up';

type Side = 'A' | 'B';

/** A gateway from `dist`, configured as bench/lib/servers.ts configures its own (same Node flags). */
async function startBuild(tmp: string, side: Side, dist: string, upstreamUrl: string): Promise<{ child: Child; base: string; url: string; startMs: number }> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const configFile = join(tmp, `gateway-${side}.yaml`);
  writeFileSync(
    configFile,
    JSON.stringify({
      rate_limit: { oauth_per_minute: 100_000, login_per_minute: 100_000, mcp_per_minute: 0 },
      upstreams: [{ slug: 'bench', url: upstreamUrl, auth: { mode: 'headers', headers: { 'X-Api-Key': 'test' } } }],
    }),
  );
  const child = spawnChild(`gateway ${side}`, ['--max-semi-space-size=4', join(dist, 'server', 'cli', 'index.js'), 'start'], {
    cwd: ROOT,
    logFile: join(tmp, `gateway-${side}.log`),
    env: {
      GATEHOUSE_CONFIG: configFile,
      DATA_DIR: join(tmp, `data-${side}`),
      PORT: String(port),
      HOST: '127.0.0.1',
      PUBLIC_URL: base,
      GATEHOUSE_ADMIN_EMAIL: ADMIN.email,
      GATEHOUSE_ADMIN_PASSWORD: ADMIN.password,
    },
  });
  await waitForLine(child, /Gatehouse listening/);
  for (
    let i = 0;
    (await fetch(`${base}/healthz`).then(
      (r) => r.status,
      () => 0,
    )) !== 200;
    i++
  ) {
    if (i > 100) throw new Error(`gateway ${side} /healthz never answered 200:\n${child.tail()}`);
    await sleep(50);
  }
  return { child, base, url: `${base}/mcp/bench`, startMs: 0 };
}

async function main(): Promise<void> {
  const dists: Record<Side, string | undefined> = { A: process.env.AB_A, B: process.env.AB_B };
  if (!dists.A || !dists.B) throw new Error('set AB_A and AB_B to the dist/ directories of the two builds');
  const rounds = Number(process.env.AB_ROUNDS ?? 6);
  const connections = Number(process.env.AB_CONNS ?? 16);
  const tmp = mkdtempSync(join(tmpdir(), 'gatehouse-ab-'));
  try {
    // The upstream fixture (and the bench's own gateway, stopped: only the two builds are measured).
    const servers = await startServers(tmp);
    servers.gateway.child.proc.kill();
    const gateways = { A: await startBuild(tmp, 'A', dists.A, servers.upstream.url), B: await startBuild(tmp, 'B', dists.B, servers.upstream.url) };
    await sleep(1500);
    const rssStart = { A: procMem(gateways.A.child.pid).rssKiB, B: procMem(gateways.B.child.pid).rssKiB };
    const ctx: Record<Side, BenchContext> = {
      A: createContext({ ...servers, gateway: gateways.A }, (await runOAuthFlow(gateways.A.url)).token),
      B: createContext({ ...servers, gateway: gateways.B }, (await runOAuthFlow(gateways.B.url)).token),
    };
    await warmUp(ctx.A);
    await warmUp(ctx.B);
    await sleep(1000);
    const rssIdle = { A: procMem(gateways.A.child.pid).rssKiB, B: procMem(gateways.B.child.pid).rssKiB };
    const used = { A: { ms: 0, calls: 0 }, B: { ms: 0, calls: 0 } };
    await withSessions(ctx.A, () =>
      withSessions(ctx.B, async () => {
        for (let r = 0; r < rounds; r++) {
          for (const side of r % 2 ? (['B', 'A'] as const) : (['A', 'B'] as const)) {
            const before = cpuMs(gateways[side].child.pid);
            const res = await cannon(ctx[side].targets.gateway, ctx[side].token, { connections, durationS: 3 });
            used[side].ms += cpuMs(gateways[side].child.pid) - before;
            used[side].calls += res.requests;
            if (res.non2xx || res.errors) process.stdout.write(`gateway ${side}: ${res.non2xx} non-2xx, ${res.errors} errors in round ${r + 1}\n`);
          }
        }
      }),
    );
    for (const c of Object.values(ctx)) for (const agent of Object.values(c.agents)) agent.destroy();
    const perCall = (side: Side) => (used[side].ms * 1000) / used[side].calls;
    const line = (side: Side) =>
      `${side} (${dists[side]}): ${perCall(side).toFixed(1)} µs CPU per call, ${(used[side].calls / (rounds * 3)).toFixed(0)} calls/s, RSS ${(rssStart[side] / 1024).toFixed(1)} MB after start, ${(rssIdle[side] / 1024).toFixed(1)} MB after the warm-up`;
    process.stdout.write(`${line('A')}\n${line('B')}\nB/A CPU per call: ${(perCall('B') / perCall('A')).toFixed(3)} (${connections} clients, ${rounds} rounds of 3 s)\n`);
  } finally {
    await stopAll();
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  async (err) => {
    process.stderr.write(`\nab failed: ${(err as Error)?.stack ?? String(err)}\n`);
    await stopAll().catch(() => undefined);
    process.exit(1);
  },
);
