import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { plainToInstance } from 'class-transformer';
import { isEmail, validateSync, ValidationError } from 'class-validator';
import { parse as parseYaml } from 'yaml';
import { publicUrlProblem } from '../common/base-path';
import { withoutTrailingSlashes } from '../common/trailing-slashes';
import { passwordProblem } from '../identity/password';
import { GatehouseConfig } from './config.schema';
import { embeddedDefaultConfig } from './default-config';
import { applyObservabilityEnv } from './observability-env';

/** One bad key (a config path such as `upstreams[0].url`, or an environment variable such as `PORT`). */
export interface ConfigProblem {
  key: string;
  problem: string;
}

/**
 * Everything wrong with the configuration, found in one pass: an operator fixes them all at once
 * instead of one per start. `key` is the first bad key (kept for callers that name one).
 */
export class ConfigError extends Error {
  readonly key: string;
  readonly problems: ConfigProblem[];

  constructor(key: string, problem: string);
  constructor(problems: ConfigProblem[]);
  constructor(keyOrProblems: string | ConfigProblem[], problem?: string) {
    const problems = typeof keyOrProblems === 'string' ? [{ key: keyOrProblems, problem: problem! }] : keyOrProblems;
    super(
      problems.length === 1
        ? `invalid configuration: ${problems[0].key}: ${problems[0].problem}`
        : `invalid configuration (${problems.length} problems):\n${problems.map((p) => `  ${p.key}: ${p.problem}`).join('\n')}`,
    );
    this.key = problems[0].key;
    this.problems = problems;
  }
}

export interface LoadedConfig extends GatehouseConfig {
  /** Issuer and resource URLs are built from this; no trailing slash. */
  publicUrl: string;
  /** Where the configuration came from: a file path or "embedded default". */
  source: string;
  /** Paths of the values filled in from ${ENV} references (masked wherever the configuration is shown). */
  fromEnvironment?: string[];
}

type Env = Record<string, string | undefined>;

export interface ConfigDetails {
  config: LoadedConfig;
  /** Paths (as in ConfigProblem.key) of the values filled in from ${ENV} references: likely secrets. */
  fromEnvironment: Set<string>;
}

export function loadConfig(env: Env = process.env): LoadedConfig {
  return loadConfigDetails(env).config;
}

/** loadConfig, plus where values came from (for `gatehouse config check`, which masks them). */
export function loadConfigDetails(env: Env = process.env): ConfigDetails {
  const { raw, source } = readRawConfig(env);
  const problems: ConfigProblem[] = [];
  const fromEnvironment = new Set<string>();
  const substituted = substituteEnv(raw, env, '', problems, fromEnvironment) as Record<string, unknown>; // a mapping stays a mapping
  applyEnvOverrides(substituted, env, problems);
  applyObservabilityEnv(substituted, env);
  checkBootstrapAdmin(env, problems);
  const config = validateConfig(substituted, problems);
  checkPublicUrl(config, env, problems);
  if (problems.length) throw new ConfigError(problems);
  if (source === 'embedded default') pointDemoUpstreamAtOwnPort(config);
  const publicUrl = withoutTrailingSlashes(config.server.public_url ?? `http://localhost:${config.server.port}`);
  return { config: Object.assign(config, { publicUrl, source, fromEnvironment: [...fromEnvironment] }), fromEnvironment };
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
function substituteEnv(value: unknown, env: Env, path: string, problems: ConfigProblem[], fromEnvironment: Set<string>): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (whole, name: string) => {
      fromEnvironment.add(path);
      const v = env[name];
      if (v !== undefined) return v;
      problems.push({ key: path, problem: `references environment variable ${name}, which is not set` });
      return whole;
    });
  }
  if (Array.isArray(value)) return value.map((v: unknown, i) => substituteEnv(v, env, `${path}[${i}]`, problems, fromEnvironment));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = substituteEnv(v, env, path ? `${path}.${k}` : k, problems, fromEnvironment);
    return out;
  }
  return value;
}

/** PORT, HOST, PUBLIC_URL, DATA_DIR and DATABASE_URL win over the file; a bad PORT is named as PORT, not server.port. */
function applyEnvOverrides(raw: Record<string, unknown>, env: Env, problems: ConfigProblem[]): void {
  const found = (raw.server ??= {});
  if (typeof found !== 'object') return; // validation reports it
  const server = found as Record<string, unknown>;
  if (env.PORT !== undefined) {
    const port = /^\d{1,5}$/.test(env.PORT.trim()) ? Number(env.PORT.trim()) : NaN;
    if (port >= 0 && port <= 65535) server.port = port;
    else problems.push({ key: 'PORT', problem: `must be a port number from 0 to 65535, not ${JSON.stringify(env.PORT)}` });
  }
  if (env.HOST) server.host = env.HOST;
  if (env.PUBLIC_URL) server.public_url = env.PUBLIC_URL;
  if (env.DATA_DIR) server.data_dir = env.DATA_DIR;
  // `database:` with every key commented out (as in config.example.yaml) is YAML null: the defaults.
  if (raw.database === null) delete raw.database;
  if (env.DATABASE_URL) {
    const database = (raw.database ??= {});
    if (typeof database === 'object' && database) (database as Record<string, unknown>).url = env.DATABASE_URL;
  }
}

/**
 * A public URL with a path is served under that path (common/base-path.ts), which must stay
 * unambiguous once a proxy strips it. Checked only when the value is a URL at all (else reported above).
 */
function checkPublicUrl(config: GatehouseConfig, env: Env, problems: ConfigProblem[]): void {
  const value = config.server?.public_url;
  const key = env.PUBLIC_URL ? 'PUBLIC_URL' : 'server.public_url';
  if (typeof value !== 'string' || problems.some((p) => p.key === key || p.key === 'server.public_url')) return;
  const problem = publicUrlProblem(value);
  if (problem) problems.push({ key, problem: `${problem}, not ${JSON.stringify(value)}` });
}

/**
 * The first admin account comes from the environment (identity/users.service.ts bootstrapAdmin).
 * Checked whenever set, before anything is created, so a typo stops the start instead of creating
 * an account nobody can sign in to. Empty means unset (docker-compose passes empty values).
 */
function checkBootstrapAdmin(env: Env, problems: ConfigProblem[]): void {
  const email = env.GATEHOUSE_ADMIN_EMAIL?.trim();
  if (email && !isEmail(email)) problems.push({ key: 'GATEHOUSE_ADMIN_EMAIL', problem: `must be an email address, not ${JSON.stringify(email)}` });
  const password = env.GATEHOUSE_ADMIN_PASSWORD;
  const problem = password ? passwordProblem(password) : null;
  if (problem) problems.push({ key: 'GATEHOUSE_ADMIN_PASSWORD', problem: `${problem} (it has ${password!.length})` });
}

function validateConfig(raw: Record<string, unknown>, problems: ConfigProblem[]): GatehouseConfig {
  const config = plainToInstance(GatehouseConfig, raw, { exposeDefaultValues: true });
  const errors = validateSync(config, { whitelist: true, forbidNonWhitelisted: true });
  const reported = new Set(problems.map((p) => p.key));
  const add = (p: ConfigProblem) => {
    // One line per key: the first thing wrong with it (a value from a missing ${VAR} is not re-reported).
    if (reported.has(p.key)) return;
    reported.add(p.key);
    problems.push(p);
  };
  for (const error of errors) collectProblems(error, '', add);
  checkUpstreams(config, add, (prefix) => [...reported].some((k) => k === prefix || k.startsWith(`${prefix}.`)));
  checkIdentityProviders(config, add);
  return config;
}

/** Provider ids name routes (/login/oidc/{id}) and group sources: one provider per id. */
function checkIdentityProviders(config: GatehouseConfig, add: (p: ConfigProblem) => void): void {
  if (!Array.isArray(config.identity_providers)) return; // reported by validation
  const seen = new Set<string>();
  config.identity_providers.forEach((p, i) => {
    if (!p || typeof p.id !== 'string') return;
    if (seen.has(p.id)) add({ key: `identity_providers[${i}].id`, problem: `duplicate id "${p.id}"` });
    seen.add(p.id);
  });
}

/** Walks class-validator's tree: every failing key, not only the first. */
function collectProblems(error: ValidationError, parent: string, add: (p: ConfigProblem) => void): void {
  const isIndex = /^\d+$/.test(error.property);
  const key = isIndex ? `${parent}[${error.property}]` : parent ? `${parent}.${error.property}` : error.property;
  if (error.constraints) {
    const messages = Object.entries(error.constraints).map(([name, msg]) => (name === 'whitelistValidation' ? 'unknown key' : msg.replace(new RegExp(`^${error.property} `), '')));
    add({ key, problem: messages[0] });
  }
  for (const child of error.children ?? []) collectProblems(child, key, add);
}

function checkUpstreams(config: GatehouseConfig, add: (p: ConfigProblem) => void, reportedUnder: (prefix: string) => boolean): void {
  if (!Array.isArray(config.upstreams)) return; // reported by validation
  const seen = new Set<string>();
  config.upstreams.forEach((u, i) => {
    if (!u || typeof u !== 'object') return;
    const at = `upstreams[${i}]`;
    if (typeof u.slug === 'string') {
      if (seen.has(u.slug)) add({ key: `${at}.slug`, problem: `duplicate slug "${u.slug}"` });
      seen.add(u.slug);
    }
    if (typeof u.transportProblems === 'function' && !reportedUnder(`${at}.transport`)) {
      for (const p of u.transportProblems()) add({ key: `${at}.${p.key}`, problem: p.problem });
    }
    // The mode's own rules across keys, which assume each key passed class-validator: skipped when one did not.
    if (reportedUnder(`${at}.auth`) || typeof u.auth?.check !== 'function') return;
    const problem = u.auth.check();
    if (problem) add({ key: `${at}.auth.${problem.key}`, problem: problem.problem });
  });
}

function pointDemoUpstreamAtOwnPort(config: GatehouseConfig): void {
  for (const u of config.upstreams) {
    if (u.slug === 'demo') u.url = `http://127.0.0.1:${config.server.port}/_demo/mcp`;
  }
}
