/** RSS of the two proxy processes once they have been idle for a second (after start, and after the warm-up). */
import { procMem } from '../lib/processes';
import { sleep } from '../lib/run-log';
import type { Servers } from '../lib/servers';

export async function measureIdleRss(servers: Servers): Promise<{ gateway: number; bare: number }> {
  await sleep(1000);
  return { gateway: procMem(servers.gateway.child.pid).rssKiB, bare: procMem(servers.bare.child.pid).rssKiB };
}
