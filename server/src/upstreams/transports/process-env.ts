import { ENV_NAME } from './transport';

/**
 * The environment a stdio or spawned upstream's process starts with: PATH (to find its own
 * programs), HOME (its own directory under the data dir), LANG, then what the admin listed, then
 * the credential (per-session processes). Nothing else of the gateway's environment: its master
 * key, admin password and database path must never reach a program an admin merely named.
 */
export function processEnv(home: string, listed: Record<string, string>, credential: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH || '/usr/local/bin:/usr/bin:/bin',
    HOME: home,
    LANG: process.env.LANG || 'C.UTF-8',
    ...listed,
    ...credential,
  };
}

/**
 * An auth mode's credential headers as environment variables for a per-session process: the
 * header name upper-cased with dashes as underscores (X-Api-Key → X_API_KEY). So every auth mode
 * works with stdio upstreams without the transport knowing which mode it is: a user_credentials
 * template `GITHUB_TOKEN: "{{token}}"` reaches the process as GITHUB_TOKEN.
 */
export function credentialEnv(headers: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    const key = name.toUpperCase().replace(/-/g, '_');
    if (ENV_NAME.test(key)) env[key] = value;
  }
  return env;
}

/** Replaces the {port} placeholder in each value (spawned upstreams). */
export function withPort<T extends string[] | Record<string, string>>(values: T, port: number): T {
  const fill = (v: string) => v.split('{port}').join(String(port));
  if (Array.isArray(values)) return values.map(fill) as T;
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, fill(v)])) as T;
}
