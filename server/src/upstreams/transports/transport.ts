/**
 * How the gateway reaches an upstream (a transport), apart from what credential goes with it (an
 * auth mode, see ../auth-modes): over HTTP at its URL, through a process it runs and talks to
 * over stdin/stdout (stdio), or through a process it runs that serves HTTP on loopback (spawn).
 */
export const TRANSPORTS = ['http', 'stdio', 'spawn'] as const;
export type UpstreamTransport = (typeof TRANSPORTS)[number];

/** stdio: one process per MCP session (it may carry the user's credentials) or one for everyone. */
export const INSTANCE_MODES = ['per_session', 'shared'] as const;
export type InstanceMode = (typeof INSTANCE_MODES)[number];

/** Replaced in a spawned upstream's args and env by the loopback port the gateway chose for it. */
export const PORT_PLACEHOLDER = '{port}';

/** Process defaults (config.yaml keys idle_timeout, max_processes, path). */
export const PROCESS_DEFAULTS = { idleTimeoutSeconds: 600, maxProcesses: 10, path: '/mcp' } as const;

/**
 * The non-secret settings of a stdio or spawned upstream, stored in the upstream record's
 * `transport_settings` JSON. Environment values are in the vault (purpose `env:<NAME>`), never here.
 */
export interface ProcessSettings {
  command: string;
  args: string[];
  /** The working directory; null: the process's own directory under the data dir (its HOME). */
  cwd: string | null;
  /** The names of the variables the admin listed; their values are in the vault. */
  envNames: string[];
  instances: InstanceMode;
  idleTimeoutMs: number;
  maxProcesses: number;
  /** spawn: the port the child listens on; null = the gateway picks a free one ({port}). */
  port: number | null;
  /** spawn: the path of its MCP endpoint. */
  path: string;
}

/** An env var name: letters, digits and _ (POSIX portable names; no "=" nor NUL can sneak in). */
export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
