/**
 * The "bare proxy" baseline of the benchmark: what a user could put in front of an MCP
 * server instead of Gatehouse. http-proxy-middleware on plain node:http, no auth, no
 * body parsing, no audit; the same keep-alive agent settings as the gateway's proxy.
 *
 * Usage: node --require ts-node/register/transpile-only bench/bare-proxy.ts --target http://127.0.0.1:PORT [--port 0]
 * Prints one JSON line `{"url": "http://127.0.0.1:PORT"}` (the request path is forwarded
 * unchanged, so the MCP endpoint is `<url>/mcp` for the fixture) and exits on SIGTERM/SIGINT.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createProxyMiddleware } from 'http-proxy-middleware';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const target = arg('--target');
if (!target) {
  process.stderr.write('bare-proxy: --target is required\n');
  process.exit(2);
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 256, scheduling: 'lifo' });
const proxy = createProxyMiddleware({
  target,
  changeOrigin: true,
  agent,
  // Only adds a log line; http-proxy-middleware's default error response (502/504) still applies.
  on: { error: (err) => process.stderr.write(`bare-proxy: proxy error ${(err as NodeJS.ErrnoException).code ?? err.message}\n`) },
});

const server = http.createServer((req, res) => {
  void proxy(req, res, () => {
    res.writeHead(404).end();
  });
});
// Same long-stream settings as the gateway.
server.requestTimeout = 0;
server.keepAliveTimeout = 65_000;

server.listen(Number(arg('--port') ?? 0), '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.stdout.write(JSON.stringify({ url: `http://127.0.0.1:${port}` }) + '\n');
});

const shutdown = () => {
  agent.destroy();
  server.closeAllConnections();
  server.close(() => process.exit(0));
};
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);
