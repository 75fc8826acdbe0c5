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
import { BenchContext, createContext, withSessions } from './lib/context';
import { cannon } from './lib/mcp-http';
import { inTempDir, runMain } from './lib/main';
import { cpuMs, procMem } from './lib/processes';
import { sleep } from './lib/run-log';
import { startGateway, startServers } from './lib/servers';
import { runOAuthFlow } from './phases/oauth-flow';
import { warmUp } from './phases/warm-up';

type Side = 'A' | 'B';

async function main(): Promise<void> {
  const dists: Record<Side, string | undefined> = { A: process.env.AB_A, B: process.env.AB_B };
  if (!dists.A || !dists.B) throw new Error('set AB_A and AB_B to the dist/ directories of the two builds');
  const rounds = Number(process.env.AB_ROUNDS ?? 6);
  const connections = Number(process.env.AB_CONNS ?? 16);
  await inTempDir('gatehouse-ab-', async (tmp) => {
    // The upstream fixture (and the bench's own gateway, stopped: only the two builds are measured).
    const servers = await startServers(tmp);
    servers.gateway.child.proc.kill();
    const gateways = {
      A: await startGateway(tmp, servers.upstream.url, { dist: dists.A, name: 'A' }),
      B: await startGateway(tmp, servers.upstream.url, { dist: dists.B, name: 'B' }),
    };
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
  });
}

runMain('ab', main);
