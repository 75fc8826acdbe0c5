import { resolve } from 'node:path';
import { stringify } from 'yaml';
import { maskSecrets } from '../config/config-mask';
import { ConfigError, loadConfigDetails } from '../config/config.loader';
import { CliError, EXIT, say } from './common';


/**
 * `gatehouse config check [file]`: validates the configuration exactly as a start would (the file,
 * ${ENV} references and the PORT/HOST/PUBLIC_URL/DATA_DIR/GATEHOUSE_ADMIN_* variables) and prints
 * the effective result with secrets masked. Every bad key is reported at once; exit 2 if any.
 */
export function checkConfig(file: string | undefined): void {
  const env = file ? { ...process.env, GATEHOUSE_CONFIG: resolve(file) } : process.env;
  let details;
  try {
    details = loadConfigDetails(env);
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(err.message, EXIT.usage);
    throw err;
  }
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  const { publicUrl, source, fromEnvironment: _paths, ...settings } = JSON.parse(JSON.stringify(details.config)) as Record<string, unknown> & { publicUrl: string; source: string };
  say(`# Configuration OK (from ${source}); the effective settings, secrets masked:`);
  say(`# public URL: ${publicUrl}; data directory: ${resolve(details.config.server.data_dir)}`);
  process.stdout.write(stringify(maskSecrets(settings, details.fromEnvironment)));
}
