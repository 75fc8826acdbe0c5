import type { AddressInfo } from 'node:net';
import { LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from './app.module';
import { LoadedConfig } from './config/config.loader';
import { installHttpPipeline } from './http-pipeline';
import { gatewayLogger } from './logging/app-logger';
import { McpProxyService } from './proxy/mcp-proxy.service';

export interface RunningGateway {
  app: NestExpressApplication;
  /** The address it listens on, e.g. http://127.0.0.1:41234 */
  url: string;
  port: number;
  close(): Promise<void>;
}

export async function startGateway(
  config: LoadedConfig,
  options: { logger?: LogLevel[] | false } = {},
): Promise<RunningGateway> {
  const app = await NestFactory.create<NestExpressApplication>(AppModule.register(config), {
    bodyParser: false,
    // Fail by throwing (main prints the reason and exits 1; tests see the error) instead of process.exit.
    abortOnError: false,
    // pino underneath, at logging.level (options.logger narrows it, as tests do).
    logger: gatewayLogger(config, options.logger),
  });
  const pipeline = installHttpPipeline(app, config);
  await app.listen(config.server.port, config.server.host);
  const server = app.getHttpServer();
  // Tool calls may stream for minutes; Node's defaults would cut them.
  server.requestTimeout = 0;
  server.keepAliveTimeout = 65_000;
  const port = (server.address() as AddressInfo).port;
  const host = config.server.host === '0.0.0.0' || config.server.host === '::' ? '127.0.0.1' : config.server.host;
  return {
    app,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    close: async () => {
      await pipeline.close();
      // Stop accepting, end open MCP streams (their audit rows are queued as they close, and
      // app.close() flushes the queue before the database closes), then drop idle connections.
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      await app.get(McpProxyService).endOpenStreams();
      server.closeAllConnections();
      await stopped;
      await app.close();
    },
  };
}
