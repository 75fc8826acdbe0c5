/** SSE: `count` with CFG.sseNotifications progress notifications; time to the first event and to the end. */
import { CFG } from '../config';
import { BenchContext, PerTarget, perTarget, rotated, withSessions } from '../lib/context';
import { sseCall } from '../lib/mcp-http';
import { log, problems } from '../lib/run-log';

/** Per target, ms of every call. */
export type SseTimes = PerTarget<{ first: number[]; total: number[] }>;

export async function measureSse(ctx: BenchContext): Promise<SseTimes> {
  log(`SSE: ${CFG.sseRounds} rounds x ${CFG.ssePerRound} calls of count(n=${CFG.sseNotifications}, delayMs=${CFG.sseDelayMs}) per target`);
  const sse = perTarget<{ first: number[]; total: number[] }>(() => ({ first: [], total: [] }));
  await withSessions(ctx, async () => {
    for (let r = 0; r < CFG.sseRounds; r++) {
      for (const t of rotated(ctx.order, r)) {
        for (let i = 0; i < CFG.ssePerRound; i++) {
          const res = await sseCall(t, ctx.token, ctx.agents[t.key], CFG.sseNotifications, CFG.sseDelayMs);
          if (res.progressEvents !== CFG.sseNotifications || !res.gotResult) {
            problems.push(`SSE ${t.label}: ${res.progressEvents} progress events, result ${res.gotResult}`);
          }
          sse[t.key].first.push(res.firstEventMs);
          sse[t.key].total.push(res.totalMs);
        }
      }
    }
  });
  return sse;
}
