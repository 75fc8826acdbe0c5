/** Not measured: JIT, keep-alive pools (up to 64 upstream sockets), audit writer, for every target. */
import { CFG } from '../config';
import { BenchContext, withSessions } from '../lib/context';
import { bigCall, cannon, sseCall } from '../lib/mcp-http';
import { check, log } from '../lib/run-log';

export async function warmUp(ctx: BenchContext): Promise<void> {
  const { token, agents } = ctx;
  log('warm-up');
  await withSessions(ctx, async () => {
    for (const t of ctx.order) {
      log(`  warm-up ${t.label}`);
      check(`warm-up ${t.label}`, await cannon(t, token, { connections: 1, amount: CFG.warmupCalls, verify: true }));
      check(`warm-up ${t.label} (64 clients)`, await cannon(t, token, { connections: 64, durationS: 1, verify: true }));
      await sseCall(t, token, agents[t.key], 10, 0);
      await bigCall(t, token, agents[t.key], CFG.bigBytes);
    }
  });
}
