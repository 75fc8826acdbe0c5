import { resolve } from 'node:path';
import { ConfigError, loadConfig, LoadedConfig } from '../config/config.loader';
import { runningGateway } from '../database/gateway-lock';
import { CliError, EXIT } from './exit-codes';

export { CliError, EXIT } from './exit-codes';

export function say(text = ''): void {
  process.stdout.write(`${text}\n`);
}

/** The configuration every command uses: the same files and variables as the gateway (GATEHOUSE_CONFIG, config.yaml, PORT, …). */
export function commandConfig(options: { dataDir?: string } = {}, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  let config: LoadedConfig;
  try {
    config = loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(err.message, EXIT.usage);
    throw err;
  }
  if (options.dataDir) config.server.data_dir = options.dataDir;
  return config;
}

export function dataDirOf(config: LoadedConfig): string {
  return resolve(config.server.data_dir);
}

/** Refuses (exit 3) while a gateway runs on the data directory; `instead` says what to do. */
export function refuseWhileRunning(dataDir: string, what: string, instead: string): void {
  const running = runningGateway(dataDir);
  if (running) throw new CliError(`refusing to ${what}: ${running.description}; ${instead}`, EXIT.gatewayRunning);
}

/** "2025-12-03 10:00 UTC": when a link expires, for people. */
export function when(epochMs: number): string {
  return `${new Date(epochMs).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}
