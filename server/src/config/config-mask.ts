/** Key names whose values are secrets wherever they appear (client_secret, …_password, api_key, …_token; not token_endpoint). */
const SECRET_KEY = /(secret|password|passphrase|api[-_]?key|(^|[-_])token)$/i;
export const MASK = '********';

/**
 * The effective configuration with every secret replaced by MASK: values of secret-sounding keys,
 * values filled in from ${ENV} references (`fromEnvironment`, paths like `upstreams[0].auth.headers.X`),
 * and the static header values of `headers` upstreams (which go to the vault). Shown by
 * `gatehouse config check` and the console's Settings page; never the values themselves.
 */
export function maskSecrets(value: unknown, fromEnvironment: ReadonlySet<string>, path = '', secret = false): unknown {
  if (typeof value === 'string') {
    // A database URL may carry its password: shown without it (postgres://user:********@host/db).
    if (path === 'database.url') return value.replace(/^([a-z]+:\/\/[^:@/]*:)[^@/]*@/i, `$1${MASK}@`);
    return secret || fromEnvironment.has(path) ? MASK : value;
  }
  if (Array.isArray(value)) return value.map((v, i) => maskSecrets(v, fromEnvironment, `${path}[${i}]`, secret));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    const staticHeaders = /^upstreams\[\d+\]\.auth$/.test(path) && (value as { mode?: unknown }).mode === 'headers';
    for (const [k, v] of Object.entries(value)) {
      const at = path ? `${path}.${k}` : k;
      out[k] = maskSecrets(v, fromEnvironment, at, secret || SECRET_KEY.test(k) || (staticHeaders && k === 'headers'));
    }
    return out;
  }
  return value;
}
