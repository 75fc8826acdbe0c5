/**
 * 1 MiB results: time, and peak RSS growth of each proxy process (streams must not be buffered whole).
 * Per call: VmHWM is reset right before the call and read right after it, so
 * growth = peak during that call - RSS just before it. Over the whole phase: a 2 ms sampler.
 */
import { CFG } from '../config';
import { BenchContext, PerTarget, perTarget, rotated, withSessions } from '../lib/context';
import { agentFor, bigCall } from '../lib/mcp-http';
import { procMem, resetPeakRss } from '../lib/processes';
import { RssSampler } from '../lib/rss-sampler';
import { log, problems, sleep } from '../lib/run-log';
import { summarize, Summary } from '../lib/stats';

type Proxy = 'bare' | 'gateway';

/** Peak VmRSS over one measured window, per proxy process, and the sampler's sample count. */
export type RssWindow = Record<Proxy, { baseKiB: number; peakKiB: number; growthKiB: number }> & { samples: number };

export interface LargeResult {
  /** Per target, ms of each sequential call. */
  sequentialMs: PerTarget<number[]>;
  /** Per target, ms of each batch of CFG.bigConcurrent concurrent calls. */
  concurrentBatchMs: PerTarget<number[]>;
  /** Every per-call peak RSS growth (KiB), or null when VmHWM cannot be reset. */
  perCallGrowthKiB: Record<Proxy, number[]> | null;
  /** Per call when VmHWM can be reset, else the whole sequential window (p50 = max = its growth). */
  growth: Record<Proxy, Summary>;
  sequentialWindow: RssWindow;
  concurrentWindow: RssWindow;
}

export async function measureLargeResult(ctx: BenchContext): Promise<LargeResult> {
  const { token, agents } = ctx;
  log(
    `1 MiB result: ${CFG.bigWarmupRounds} warm-up + ${CFG.bigRounds} rounds x ${CFG.bigPerRound} sequential calls per target, ` +
      `then ${CFG.bigConcurrentRounds} x ${CFG.bigConcurrent} concurrent`,
  );
  const proxies: Record<Proxy, number> = { bare: ctx.servers.bare.child.pid, gateway: ctx.servers.gateway.child.pid };
  const hwmWorks = resetPeakRss(proxies.bare) && resetPeakRss(proxies.gateway);
  if (!hwmWorks) problems.push('cannot reset VmHWM (clear_refs): per-call peak RSS falls back to the 2 ms sampler');
  const sampler = new RssSampler(Object.values(proxies));
  const window = async (fn: () => Promise<void>): Promise<RssWindow> => {
    await sleep(300);
    const base = { bare: procMem(proxies.bare).rssKiB, gateway: procMem(proxies.gateway).rssKiB };
    sampler.start();
    await fn();
    const sampled = sampler.stop();
    const out = {} as Record<Proxy, { baseKiB: number; peakKiB: number; growthKiB: number }>;
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
  let windows: { seq: RssWindow; conc: RssWindow };
  try {
    windows = await withSessions(ctx, async () => {
      for (let r = 0; r < CFG.bigWarmupRounds; r++) {
        for (const t of ctx.order) for (let i = 0; i < CFG.bigPerRound; i++) await bigCall(t, token, agents[t.key], CFG.bigBytes);
      }
      const seq = await window(async () => {
        for (let r = 0; r < CFG.bigRounds; r++) {
          for (const t of rotated(ctx.order, r)) {
            for (let i = 0; i < CFG.bigPerRound; i++) {
              const pid = t.key === 'direct' ? 0 : proxies[t.key];
              const before = pid && hwmWorks ? procMem(pid).rssKiB : 0;
              if (pid && hwmWorks) resetPeakRss(pid);
              bigMs[t.key].push((await bigCall(t, token, agents[t.key], CFG.bigBytes)).ms);
              if (pid && hwmWorks) bigGrowth[t.key as Proxy].push(procMem(pid).hwmKiB - before);
            }
          }
        }
      });
      const conc = await window(async () => {
        for (let r = 0; r < CFG.bigConcurrentRounds; r++) {
          for (const t of rotated(ctx.order, r)) {
            const t0 = performance.now();
            await Promise.all(Array.from({ length: CFG.bigConcurrent }, () => bigCall(t, token, bigConcAgents[t.key], CFG.bigBytes)));
            bigConcMs[t.key].push(performance.now() - t0);
          }
        }
      });
      return { seq, conc };
    });
  } catch (err) {
    await sampler.close().catch(() => undefined);
    throw err;
  }
  await sampler.close();
  for (const a of Object.values(bigConcAgents)) a.destroy();
  const { seq, conc } = windows;
  const perCallGrowthKiB = (k: Proxy) => (hwmWorks ? summarize(bigGrowth[k]) : ({ p50: seq[k].growthKiB, max: seq[k].growthKiB } as Summary));
  return {
    sequentialMs: bigMs,
    concurrentBatchMs: bigConcMs,
    perCallGrowthKiB: hwmWorks ? { bare: bigGrowth.bare, gateway: bigGrowth.gateway } : null,
    growth: { bare: perCallGrowthKiB('bare'), gateway: perCallGrowthKiB('gateway') },
    sequentialWindow: seq,
    concurrentWindow: conc,
  };
}
