import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter, NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from './app.module';
import { LoadedConfig } from './config/config.loader';
import { ConfigService } from './config/config.service';
import { removeGatewayLock, writeGatewayLock } from './database/gateway-lock';
import { installHttpPipeline } from './http-pipeline';
import { BundleEndpoint } from './bundle/bundle-endpoint';
import { BootstrapNotice, UsersService } from './identity/users.service';
import { gatewayLogger } from './logging/app-logger';
import { McpProxyService } from './proxy/mcp-proxy.service';
import { UpstreamProbeService, UpstreamProbeState } from './upstreams/upstream-probe.service';

export interface RunningGateway {
  app: NestExpressApplication;
  /** The address it listens on, e.g. http://127.0.0.1:41234 */
  url: string;
  port: number;
  /** The first probe of every upstream, made at start (later ones: UpstreamProbeService). */
  probes: UpstreamProbeState[];
  /** The first admin account, when this start created it (its generated password only then). */
  createdAdmin: BootstrapNotice | null;
  close(): Promise<void>;
}

/** A start-up problem the operator fixes before starting again (exit code 2); the message is one line meant as is. */
export class StartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StartupError';
  }
}

/**
 * Starts the gateway. The port is bound first, before anything is created (data directory,
 * database, master key, first admin): a port in use or a bad HOST stops the start with nothing
 * left behind. Until the app is ready the bound port answers 503. Once it is, the data directory
 * gets its lock file (database/gateway-lock.ts) and every upstream is probed once.
 */
export async function startGateway(config: LoadedConfig, options: { logger?: LogLevel[] | false } = {}): Promise<RunningGateway> {
  const server = await bindPort(config.server.host, config.server.port);
  let app: NestExpressApplication | undefined;
  let pipeline: ReturnType<typeof installHttpPipeline>;
  try {
    app = await NestFactory.create<NestExpressApplication>(AppModule.register(config), new BoundExpressAdapter(server), {
      bodyParser: false,
      // Fail by throwing (main prints the reason and exits 1; tests see the error) instead of process.exit.
      abortOnError: false,
      // pino underneath, at logging.level (options.logger narrows it, as tests do).
      logger: gatewayLogger(config, options.logger),
    });
    pipeline = installHttpPipeline(app, config);
    await app.init();
  } catch (err) {
    await app?.close().catch(() => undefined);
    server.close();
    throw err;
  }
  server.removeAllListeners('request');
  server.on('request', pipeline.handleRequest);

  const dataDir = app.get(ConfigService).dataDir;
  writeGatewayLock(dataDir);
  const probes = await app.get(UpstreamProbeService).start();
  const port = (server.address() as AddressInfo).port;
  const host = config.server.host === '0.0.0.0' || config.server.host === '::' ? '127.0.0.1' : config.server.host;
  const running = app;
  return {
    app,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    probes,
    createdAdmin: app.get(UsersService).takeBootstrapNotice(),
    close: async () => {
      try {
        await pipeline.close();
        // Stop accepting, end open MCP streams (their audit rows are queued as they close, and
        // app.close() flushes the queue before the database closes), then drop idle connections.
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        await running.get(McpProxyService).endOpenStreams();
        await running.get(BundleEndpoint).endOpenStreams();
        server.closeAllConnections();
        await stopped;
        await running.close();
      } finally {
        removeGatewayLock(dataDir);
      }
    },
  };
}

/** Nest's Express adapter on a server that already listens (Nest would otherwise create its own). */
class BoundExpressAdapter extends ExpressAdapter {
  constructor(private readonly bound: Server) {
    super();
  }

  override initHttpServer(): void {
    this.httpServer = this.bound;
  }
}

async function bindPort(host: string, port: number): Promise<Server> {
  const server = createServer();
  // Tool calls may stream for minutes; Node's defaults would cut them.
  server.requestTimeout = 0;
  server.keepAliveTimeout = 65_000;
  server.on('request', answerStarting);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    throw new StartupError(listenProblem(err as NodeJS.ErrnoException, host, port));
  }
  return server;
}

/** While the app starts (migrations, vault check), the bound port answers, briefly, that it is not ready. */
function answerStarting(_req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(503, { 'Content-Type': 'application/json', 'Retry-After': '1', Connection: 'close', 'Cache-Control': 'no-store' });
  res.end('{"error":"starting","message":"Gatehouse is starting; try again in a moment"}');
}

function listenProblem(err: NodeJS.ErrnoException, host: string, port: number): string {
  switch (err.code) {
    case 'EADDRINUSE':
      return `port ${port} on ${host} is already in use; stop what listens there or set PORT to a free port`;
    case 'EACCES':
      return `no permission to listen on port ${port} on ${host} (ports below 1024 need privileges); set PORT to 1024 or above`;
    case 'EADDRNOTAVAIL':
      return `cannot listen on ${host}: it is not an address of this machine; set HOST (0.0.0.0 listens on every address)`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `cannot listen on ${host}: the name does not resolve; set HOST to an address`;
    default:
      return `cannot listen on ${host} port ${port}: ${err.message}`;
  }
}
