/** tools/call latency: 1 client, rounds of CFG.latencyPerRound calls per target, interleaved. */
import { CFG } from '../config';
import { BenchContext, PerTarget, perTarget, rotated, withSessions } from '../lib/context';
import { cannon } from '../lib/mcp-http';
import { check, log } from '../lib/run-log';
import { summarize, Summary } from '../lib/stats';

export async function measureToolsCallLatency(ctx: BenchContext): Promise<PerTarget<Summary>> {
  log(`latency: ${CFG.latencyRounds} rounds x ${CFG.latencyPerRound} calls per target, 1 client`);
  const lat = perTarget<number[]>(() => []);
  await withSessions(ctx, async () => {
    for (let r = 0; r < CFG.latencyRounds; r++) {
      for (const t of rotated(ctx.order, r)) {
        // One extra call: the first one of each run pays for the TCP connect, and is dropped.
        const res = await cannon(t, ctx.token, { connections: 1, amount: CFG.latencyPerRound + 1, verify: true, keepLatencies: true });
        check(`latency ${t.label} round ${r + 1}`, res, CFG.latencyPerRound + 1);
        lat[t.key].push(...res.latencies.slice(1));
      }
    }
  });
  return perTarget((k) => summarize(lat[k]));
}
