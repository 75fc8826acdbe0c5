import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { METRICS_LISTEN } from '../config/observability.schema';
import { MetricsRecorder } from './metrics-recorder';

/**
 * metrics.listen: /metrics without a token on a loopback port of its own (validated loopback by the
 * config schema), for a scraper or agent on the same host. Nothing else is served there.
 */
export async function startMetricsListener(listen: string, metrics: MetricsRecorder): Promise<Server> {
  const [, rawHost, rawPort] = METRICS_LISTEN.exec(listen)!;
  const host = rawHost.replace(/^\[|\]$/g, '');
  const port = Number(rawPort);
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics') return void res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found: this port serves /metrics only\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') return void res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain' }).end();
    metrics.metrics().then(
      (body) => res.writeHead(200, { 'Content-Type': metrics.contentType, 'Cache-Control': 'no-store' }).end(req.method === 'HEAD' ? undefined : body),
      () => res.writeHead(500, { 'Content-Type': 'text/plain' }).end('metrics could not be collected\n'),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(new Error(`metrics.listen ${listen}: ${err.code === 'EADDRINUSE' ? 'the port is in use' : err.message}`)));
    server.listen(port, host, () => resolve());
  });
  return server;
}

export function listenerAddress(server: Server): string {
  const { address, port } = server.address() as AddressInfo;
  return `${address.includes(':') ? `[${address}]` : address}:${port}`;
}
