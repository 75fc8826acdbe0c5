import 'reflect-metadata';
import { resolve } from 'node:path';
import { RunningGateway, startGateway, StartupError } from '../app.factory';
import { ConfigError, loadConfig, LoadedConfig } from '../config/config.loader';
import { dataDirProblem } from '../database/data-dir';
import { describeProbe } from '../upstreams/upstream-probe.service';
import { EXIT } from './common';

/**
 * `gatehouse start` (and server/src/main.ts): runs the gateway until SIGTERM or SIGINT.
 * Every start-up mistake is one `gatehouse: …` line on stderr: exit 2 for what the operator fixes
 * (configuration, environment variables, an unwritable data directory, a port in use), 1 for the
 * rest (e.g. a wrong master key). Nothing is retried.
 */
export async function runStart(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  let config: LoadedConfig;
  try {
    config = loadConfig(env);
    const problem = dataDirProblem(resolve(config.server.data_dir));
    if (problem) throw new StartupError(problem);
  } catch (err) {
    if (err instanceof ConfigError || err instanceof StartupError) return exit(err.message, EXIT.usage);
    throw err;
  }
  // A clean stop flushes queued audit rows, closes the database and removes the lock file before
  // exiting 0. The handlers are in place before the gateway starts: a SIGTERM that arrives while it
  // is starting (e.g. `docker stop` right after `up`) stops it once started instead of killing it
  // mid-write with the default action.
  let gateway: RunningGateway | undefined;
  let stopRequested = false;
  const stop = (running: RunningGateway) =>
    running.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (stopRequested) return;
      stopRequested = true;
      if (gateway) void stop(gateway);
    });
  }
  try {
    gateway = await startGateway(config);
  } catch (err) {
    if (err instanceof StartupError) return exit(err.message, EXIT.usage);
    return exit(`failed to start: ${err instanceof Error ? err.message : String(err)}`, EXIT.failed);
  }
  if (stopRequested) return void stop(gateway);
  process.stdout.write(startSummary(config, gateway));
}

function startSummary(config: LoadedConfig, gateway: RunningGateway): string {
  const lines: string[] = [];
  const admin = gateway.createdAdmin;
  if (admin?.generatedPassword) {
    // Printed once, on purpose: there is no other way to learn it. It is never stored in clear.
    lines.push(
      '',
      '  Gatehouse created the first admin account.',
      `    email:    ${admin.email}`,
      `    password: ${admin.generatedPassword}`,
      '  Change it, or set GATEHOUSE_ADMIN_EMAIL and GATEHOUSE_ADMIN_PASSWORD before the first start.',
      '',
    );
  } else if (admin) {
    lines.push(`Gatehouse created admin ${admin.email} (password from GATEHOUSE_ADMIN_PASSWORD).`);
  }
  lines.push(
    `Gatehouse listening on ${config.server.host}:${gateway.port} (config: ${config.source})`,
    `  issuer:  ${config.publicUrl}`,
    `  data:    ${resolve(config.server.data_dir)}`,
    ...config.upstreams.filter((u) => u.enabled).map((u) => `  upstream ${u.slug}: ${config.publicUrl}/mcp/${u.slug} -> ${u.url}`),
    ...gateway.probes.map((p) => `  ${describeProbe(p)}`),
  );
  return `${lines.join('\n')}\n`;
}

function exit(message: string, code: number): void {
  process.stderr.write(`gatehouse: ${message}\n`);
  process.exit(code);
}
