import { ENV_NAME, PORT_PLACEHOLDER, PROCESS_DEFAULTS, ProcessSettings, UpstreamTransport } from './transport';

/** The transport keys of an upstream's config (config.yaml spelling), as UpstreamConfig holds them. */
export interface TransportConfigKeys {
  transport: UpstreamTransport;
  url?: string;
  command?: string;
  args?: string[];
  env?: Record<string, string>;
  cwd?: string;
  instances?: string;
  idle_timeout?: number;
  max_processes?: number;
  port?: number | string;
  path?: string;
}

const PROCESS_KEYS = ['command', 'args', 'env', 'cwd'] as const;
const STDIO_ONLY = ['instances', 'idle_timeout', 'max_processes'] as const;
const SPAWN_ONLY = ['port', 'path'] as const;
/** Bounds what an admin can make the gateway hold and pass to execve. */
const MAX_ENV_VALUE = 32_768;

/**
 * The rules across transport keys: each key belongs to some transports only (a key that would
 * be ignored is an error, so a typo'd transport is not silently an HTTP upstream), env names are
 * portable names, and a spawned upstream's port is a number or the {port} placeholder.
 */
export function transportProblems(u: TransportConfigKeys): Array<{ key: string; problem: string }> {
  const problems: Array<{ key: string; problem: string }> = [];
  const notFor = (key: string) => problems.push({ key, problem: `is not used with transport ${u.transport}` });
  if (u.transport === 'http') {
    for (const key of [...PROCESS_KEYS, ...STDIO_ONLY, ...SPAWN_ONLY]) if (u[key] !== undefined) notFor(key);
    return problems;
  }
  if (u.url !== undefined) problems.push({ key: 'url', problem: `is not used with transport ${u.transport} (the gateway runs the command instead)` });
  for (const key of u.transport === 'stdio' ? SPAWN_ONLY : STDIO_ONLY) if (u[key] !== undefined) notFor(key);
  for (const [name, value] of Object.entries(u.env ?? {})) {
    if (!ENV_NAME.test(name)) problems.push({ key: `env.${name}`, problem: 'must be a variable name (letters, digits and _, not starting with a digit)' });
    else if (typeof value !== 'string') problems.push({ key: `env.${name}`, problem: 'must be a string' });
    else if (value.includes('\0') || value.length > MAX_ENV_VALUE) problems.push({ key: `env.${name}`, problem: `must be at most ${MAX_ENV_VALUE} characters, without NUL` });
  }
  if (u.transport === 'spawn' && u.port !== undefined && u.port !== PORT_PLACEHOLDER && !(Number.isInteger(u.port) && (u.port as number) >= 1 && (u.port as number) <= 65535)) {
    problems.push({ key: 'port', problem: `must be a port number from 1 to 65535, or "${PORT_PLACEHOLDER}" for one the gateway picks` });
  }
  return problems;
}

/** The stored settings of a stdio or spawned upstream's config; null for an HTTP one. */
export function processSettingsFrom(u: TransportConfigKeys): ProcessSettings | null {
  if (u.transport === 'http') return null;
  return {
    command: u.command!,
    args: [...(u.args ?? [])],
    cwd: u.cwd ?? null,
    envNames: Object.keys(u.env ?? {}).sort(),
    instances: u.instances === 'shared' ? 'shared' : 'per_session',
    idleTimeoutMs: (u.idle_timeout ?? PROCESS_DEFAULTS.idleTimeoutSeconds) * 1000,
    maxProcesses: u.max_processes ?? PROCESS_DEFAULTS.maxProcesses,
    port: typeof u.port === 'number' ? u.port : null,
    path: u.path ?? PROCESS_DEFAULTS.path,
  };
}
