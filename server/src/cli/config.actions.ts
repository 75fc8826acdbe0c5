import { resolve } from 'node:path';
import { stringify } from 'yaml';
import { ConfigError, loadConfigDetails } from '../config/config.loader';
import { CliError, EXIT, say } from './common';

/** Key names whose values are secrets wherever they appear (client_secret, …_password, api_key, …_token; not token_endpoint). */
const SECRET_KEY = /(secret|password|passphrase|api[-_]?key|(^|[-_])token)$/i;
const MASK = '********';

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
  const { publicUrl, source, ...settings } = JSON.parse(JSON.stringify(details.config)) as Record<string, unknown> & { publicUrl: string; source: string };
  say(`# Configuration OK (from ${source}); the effective settings, secrets masked:`);
  say(`# public URL: ${publicUrl}; data directory: ${resolve(details.config.server.data_dir)}`);
  process.stdout.write(stringify(mask(settings, '', details.fromEnvironment)));
}

/**
 * Masks what is secret: values of secret-sounding keys, values filled in from ${ENV} references,
 * and the static header values of `headers` upstreams (which go to the vault).
 */
function mask(value: unknown, path: string, fromEnvironment: Set<string>, secret = false): unknown {
  if (typeof value === 'string') return secret || fromEnvironment.has(path) ? MASK : value;
  if (Array.isArray(value)) return value.map((v, i) => mask(v, `${path}[${i}]`, fromEnvironment, secret));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    const staticHeaders = /^upstreams\[\d+\]\.auth$/.test(path) && (value as { mode?: unknown }).mode === 'headers';
    for (const [k, v] of Object.entries(value)) {
      const at = path ? `${path}.${k}` : k;
      out[k] = mask(v, at, fromEnvironment, secret || SECRET_KEY.test(k) || (staticHeaders && k === 'headers'));
    }
    return out;
  }
  return value;
}
