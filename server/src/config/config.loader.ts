import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { plainToInstance } from 'class-transformer';
import { validateSync, ValidationError } from 'class-validator';
import { parse as parseYaml } from 'yaml';
import { GatehouseConfig } from './config.schema';
import { embeddedDefaultConfig } from './default-config';
import { applyObservabilityEnv } from './observability-env';

export class ConfigError extends Error {
  constructor(
    readonly key: string,
    problem: string,
  ) {
    super(`invalid configuration: ${key}: ${problem}`);
  }
}

export interface LoadedConfig extends GatehouseConfig {
  /** Issuer and resource URLs are built from this; no trailing slash. */
  publicUrl: string;
  /** Where the configuration came from: a file path or "embedded default". */
  source: string;
}

type Env = Record<string, string | undefined>;

export function loadConfig(env: Env = process.env): LoadedConfig {
  const { raw, source } = readRawConfig(env);
  const substituted = substituteEnv(raw, env, '') as Record<string, unknown>; // a mapping stays a mapping
  applyEnvOverrides(substituted, env);
  applyObservabilityEnv(substituted, env);
  const config = validateConfig(substituted);
  if (source === 'embedded default') pointDemoUpstreamAtOwnPort(config);
  const publicUrl = (config.server.public_url ?? `http://localhost:${config.server.port}`).replace(/\/+$/, '');
  return Object.assign(config, { publicUrl, source });
}

function readRawConfig(env: Env): { raw: Record<string, unknown>; source: string } {
  const explicit = env.GATEHOUSE_CONFIG?.trim() || undefined;
  const path = resolve(explicit ?? './config.yaml');
  if (!existsSync(path)) {
    if (explicit) throw new ConfigError('GATEHOUSE_CONFIG', `file not found: ${path}`);
    return { raw: embeddedDefaultConfig(), source: 'embedded default' };
  }
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(path, `cannot be read: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (err) {
    throw new ConfigError(path, `not valid YAML: ${(err as Error).message}`);
  }
  if (parsed === null || parsed === undefined) parsed = {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) throw new ConfigError(path, 'must be a YAML mapping');
  return { raw: parsed as Record<string, unknown>, source: path };
}

/** Replaces ${NAME} in every string value so secrets can stay in the environment. */
function substituteEnv(value: unknown, env: Env, path: string): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
      const v = env[name];
      if (v === undefined) throw new ConfigError(path, `references environment variable ${name}, which is not set`);
      return v;
    });
  }
  if (Array.isArray(value)) return value.map((v: unknown, i) => substituteEnv(v, env, `${path}[${i}]`));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = substituteEnv(v, env, path ? `${path}.${k}` : k);
    return out;
  }
  return value;
}

function applyEnvOverrides(raw: Record<string, unknown>, env: Env): void {
  const found = (raw.server ??= {});
  if (typeof found !== 'object') return; // validation reports it
  const server = found as Record<string, unknown>;
  if (env.PORT !== undefined) server.port = /^\d+$/.test(env.PORT) ? Number(env.PORT) : env.PORT;
  if (env.HOST) server.host = env.HOST;
  if (env.PUBLIC_URL) server.public_url = env.PUBLIC_URL;
  if (env.DATA_DIR) server.data_dir = env.DATA_DIR;
}

function validateConfig(raw: Record<string, unknown>): GatehouseConfig {
  const config = plainToInstance(GatehouseConfig, raw, { exposeDefaultValues: true });
  const errors = validateSync(config, { whitelist: true, forbidNonWhitelisted: true });
  if (errors.length) {
    const [key, problem] = firstProblem(errors[0], '');
    throw new ConfigError(key, problem);
  }
  checkUpstreams(config);
  return config;
}

function firstProblem(error: ValidationError, parent: string): [string, string] {
  const isIndex = /^\d+$/.test(error.property);
  const key = isIndex ? `${parent}[${error.property}]` : parent ? `${parent}.${error.property}` : error.property;
  if (error.constraints) {
    const messages = Object.entries(error.constraints).map(([name, msg]) => (name === 'whitelistValidation' ? 'unknown key' : msg.replace(new RegExp(`^${error.property} `), '')));
    return [key, messages[0]];
  }
  return firstProblem(error.children![0], key);
}

function checkUpstreams(config: GatehouseConfig): void {
  const seen = new Set<string>();
  config.upstreams.forEach((u, i) => {
    const at = `upstreams[${i}]`;
    if (seen.has(u.slug)) throw new ConfigError(`${at}.slug`, `duplicate slug "${u.slug}"`);
    seen.add(u.slug);
    // The mode's own cross-key rules (class-validator checked each key already).
    const problem = u.auth.check();
    if (problem) throw new ConfigError(`${at}.auth.${problem.key}`, problem.problem);
  });
}

function pointDemoUpstreamAtOwnPort(config: GatehouseConfig): void {
  for (const u of config.upstreams) {
    if (u.slug === 'demo') u.url = `http://127.0.0.1:${config.server.port}/_demo/mcp`;
  }
}
