import 'reflect-metadata';
import { startGateway } from './app.factory';
import { ConfigError, loadConfig } from './config/config.loader';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`gatehouse: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const gateway = await startGateway(config);
  // A clean stop flushes queued audit rows and closes the database before exiting 0.
  let stopping = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      gateway.close().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    });
  }
  process.stdout.write(
    `Gatehouse listening on ${config.server.host}:${gateway.port} (config: ${config.source})\n` +
      `  issuer:  ${config.publicUrl}\n` +
      config.upstreams.map((u) => `  upstream ${u.slug}: ${config.publicUrl}/mcp/${u.slug} -> ${u.url}\n`).join(''),
  );
}

main().catch((err) => {
  process.stderr.write(`gatehouse: failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
