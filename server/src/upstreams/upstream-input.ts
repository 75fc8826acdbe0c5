import { plainToInstance } from 'class-transformer';
import { validateSync, ValidationError } from 'class-validator';
import { literalHostRefusal } from '../common/ssrf';
import { UpstreamConfig } from '../config/config.schema';
import type { AuthConfig, AuthConfigProblem, AuthFormField } from './auth-modes';
import { invalidUpstream } from './upstream-admin.errors';
import type { AllowList, Upstream } from './upstream';

/** An upstream as the console sends it (POST /admin/api/upstreams; PATCH sends any part of it). */
export interface UpstreamInput {
  slug?: string;
  name?: string;
  url?: string;
  enabled?: boolean;
  timeoutSeconds?: number;
  scopes?: string[];
  /** `{ mode, ...that mode's fields }`, spelled as in config.yaml (see AuthModeStrategy.form()). */
  auth?: Record<string, unknown>;
  allow?: Partial<AllowList>;
  /** What the audit log keeps (config.yaml's `audit` block). */
  audit?: { toolArguments?: string };
  /** http (default), stdio or spawn, and the process fields (see upstreams/transports). */
  transport?: string;
  command?: string;
  args?: string[];
  /** Name → value; a blank value keeps the stored one (values are write-only). */
  env?: Record<string, string>;
  cwd?: string;
  instances?: string;
  idleTimeoutSeconds?: number;
  maxProcesses?: number;
  port?: number | string;
  path?: string;
}

/** Where the admin API's names differ from config.yaml's (camelCase there, snake_case here). */
const API_NAMES: Record<string, string> = {
  timeout: 'timeoutSeconds',
  'allow.email_domains': 'allow.emailDomains',
  idle_timeout: 'idleTimeoutSeconds',
  max_processes: 'maxProcesses',
  'audit.tool_arguments': 'audit.toolArguments',
};

/** The config.yaml form of a console input, so that UpstreamConfig (the file's own rules) validates it. */
export function configShapeOf(input: UpstreamInput): Record<string, unknown> {
  const allow = input.allow && { users: input.allow.users, emails: input.allow.emails, email_domains: input.allow.emailDomains, groups: input.allow.groups };
  const raw: Record<string, unknown> = {
    slug: input.slug,
    name: input.name,
    url: input.url,
    enabled: input.enabled,
    timeout: input.timeoutSeconds,
    scopes: input.scopes,
    auth: input.auth,
    allow,
    audit: input.audit && { tool_arguments: input.audit.toolArguments },
    transport: input.transport,
    command: input.command,
    args: input.args,
    env: input.env,
    cwd: input.cwd,
    instances: input.instances,
    idle_timeout: input.idleTimeoutSeconds,
    max_processes: input.maxProcesses,
    port: input.port,
    path: input.path,
  };
  return Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined));
}

/** The console input of an existing upstream, secrets left out (they are kept from the vault). */
export function inputOf(upstream: Upstream, auth: Record<string, unknown>): UpstreamInput {
  const p = upstream.process;
  const processFields: Partial<UpstreamInput> = p
    ? {
        command: p.command,
        args: [...p.args],
        // Values are write-only: blank keeps each stored one.
        env: Object.fromEntries(p.envNames.map((name) => [name, ''])),
        ...(p.cwd !== null && { cwd: p.cwd }),
        ...(upstream.transport === 'stdio'
          ? { instances: p.instances, idleTimeoutSeconds: Math.round(p.idleTimeoutMs / 1000), maxProcesses: p.maxProcesses }
          : { port: p.port ?? '{port}', path: p.path }),
      }
    : {};
  return {
    slug: upstream.slug,
    name: upstream.name,
    ...(upstream.transport === 'http' && { url: upstream.url }),
    transport: upstream.transport,
    ...processFields,
    enabled: upstream.enabled,
    timeoutSeconds: Math.round(upstream.timeoutMs / 1000),
    scopes: [...upstream.scopes],
    auth,
    allow: structuredClone(upstream.allow),
    audit: { toolArguments: upstream.toolArguments ?? 'digest' },
  };
}

export interface ParseOptions {
  /** The stored value of a process env variable, for a blank one in an edit (null: none stored). */
  storedEnv(name: string): string | null;
  /** Fills the secrets an edit left blank from the vault (AuthModesService.keepStoredSecrets). */
  keepStoredSecrets(auth: AuthConfig): AuthConfigProblem | null;
  /** The url fields of each mode's form, checked against private addresses like the upstream's own url. */
  urlFieldsOf(mode: string): AuthFormField[];
  /** Whether the upstream's connections go through the SSRF guard (then private addresses are refused here too). */
  guarded: boolean;
  privateNetworkHint: string;
}

/**
 * Validates a console input with the classes that validate config.yaml (UpstreamConfig and the
 * auth mode's config class, including its check()), so the console and the file follow the same
 * rules; plus what only the console needs. Throws 400 naming each bad field by its API name.
 */
export function parseUpstreamInput(input: UpstreamInput, opts: ParseOptions): UpstreamConfig {
  const unknown = unknownKeys(input);
  if (Object.keys(unknown).length) throw invalidUpstream(unknown);
  const config = plainToInstance(UpstreamConfig, configShapeOf(input), { exposeDefaultValues: true });
  const errors = validateSync(config, { whitelist: true, forbidNonWhitelisted: true });
  // Every bad field at once: the cross-key transport rules too (they only read what is there).
  const transportFields = Object.fromEntries(config.transportProblems().map((p) => [API_NAMES[p.key] ?? p.key, p.problem]));
  if (errors.length) throw invalidUpstream({ ...transportFields, ...fieldProblems(errors) });
  const problem = opts.keepStoredSecrets(config.auth) ?? config.auth.check();
  if (problem) throw invalidUpstream({ [`auth.${problem.key}`]: problem.problem });
  const fields: Record<string, string> = {};
  Object.assign(fields, transportFields);
  // Env values are write-only: a blank one keeps what the vault holds.
  for (const [name, value] of Object.entries(config.env ?? {})) {
    if (value !== '') continue;
    const stored = opts.storedEnv(name);
    if (stored === null) fields[`env.${name}`] ??= 'needs a value (none is stored yet)';
    else config.env![name] = stored;
  }
  if (Object.keys(fields).length) throw invalidUpstream(fields);
  const url = config.transport === 'http' ? new URL(config.url) : null;
  if (url && (url.username || url.password)) fields.url = 'must not contain a user name or password (send credentials with an auth mode)';
  if (opts.guarded && url) {
    const targets: Array<[string, unknown]> = [
      ['url', config.url],
      ...opts.urlFieldsOf(config.auth.mode).map((f): [string, unknown] => [`auth.${f.name}`, valueAt(config.auth, f.name)]),
    ];
    for (const [field, value] of targets) {
      const why = typeof value === 'string' && value ? privateHostProblem(value) : null;
      if (why) fields[field] ??= `points at ${why}: ${opts.privateNetworkHint}`;
    }
  }
  if (Object.keys(fields).length) throw invalidUpstream(fields);
  Object.assign(config.allow, normalizedAllow(config.allow));
  return config;
}

/**
 * Why this URL's host is certainly not public, judged without DNS: an IP literal of a special
 * range, or a "localhost" name (RFC 6761 §6.3). Other names are checked by the SSRF guard when it connects.
 */
export function privateHostProblem(url: string): string | null {
  let host: string;
  try {
    host = new URL(url).hostname.toLowerCase();
  } catch {
    return null; // not a URL: the validators above report it
  }
  if (host === 'localhost' || host.endsWith('.localhost')) return `${host}, a loopback name`;
  return literalHostRefusal(host);
}

/** Emails compare lower-cased, domains without a leading "@" (as config.yaml's are seeded). */
export function normalizedAllow(allow: { users: string[]; emails: string[]; email_domains: string[]; groups: string[] }) {
  return {
    users: allow.users.map((x) => (x.includes('@') ? x.toLowerCase() : x)),
    emails: allow.emails.map((e) => e.toLowerCase()),
    email_domains: allow.email_domains.map((d) => d.toLowerCase().replace(/^@/, '')),
    groups: allow.groups,
  };
}

/** The fields an edit may change, in the order the audit row of an edit lists them. */
export const EDITABLE = [
  'name',
  'url',
  'transport',
  'command',
  'args',
  'env',
  'cwd',
  'instances',
  'idleTimeoutSeconds',
  'maxProcesses',
  'port',
  'path',
  'enabled',
  'timeoutSeconds',
  'scopes',
  'auth',
  'allow',
  'audit',
] as const;

/** What the admin API takes: the slug (fixed once created) and the editable fields. */
const INPUT_KEYS = new Set<string>(['slug', ...EDITABLE]);
const AUDIT_KEYS = new Set(['toolArguments']);

const ALLOW_KEYS = new Set(['users', 'emails', 'emailDomains', 'groups']);

/**
 * Keys the input must not have: configShapeOf() copies only the API's own, so anything else (a typo,
 * or config.yaml's spelling such as "timeout") would otherwise be dropped without a word.
 */
function unknownKeys(input: UpstreamInput): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const key of Object.keys(input)) if (!INPUT_KEYS.has(key)) fields[key] = 'is not a known field';
  const audit: unknown = input.audit;
  if (audit !== undefined && (!audit || typeof audit !== 'object' || Array.isArray(audit))) fields.audit = 'must be an object';
  else if (audit) for (const key of Object.keys(audit)) if (!AUDIT_KEYS.has(key)) fields[`audit.${key}`] = 'is not a known field';
  return input.allow === undefined ? fields : { ...fields, ...unknownAllowKeys(input.allow) };
}

/** The allow-list's own keys are users, emails, emailDomains and groups (config.yaml's email_domains is not one). */
export function unknownAllowKeys(allow: unknown): Record<string, string> {
  if (!allow || typeof allow !== 'object' || Array.isArray(allow)) return { allow: 'must be an object' };
  const fields: Record<string, string> = {};
  for (const key of Object.keys(allow)) if (!ALLOW_KEYS.has(key)) fields[`allow.${key}`] = 'is not a known field';
  return fields;
}

function valueAt(object: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((o, key) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[key] : undefined), object);
}

/** API field name (dotted path) → its first problem, without the property name class-validator starts it with. */
function fieldProblems(errors: ValidationError[], parent = ''): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const error of errors) {
    const configPath = parent ? `${parent}.${error.property}` : error.property;
    const path = API_NAMES[configPath] ?? configPath;
    if (error.constraints) {
      const constraints = Object.entries(error.constraints);
      fields[path] = constraints.some(([name]) => name === 'whitelistValidation')
        ? 'is not a known field'
        : error.value === undefined
          ? 'is required'
          : constraints[0][1].replace(new RegExp(`^${escapeRegExp(error.property)} `), '');
    }
    if (error.children?.length) Object.assign(fields, fieldProblems(error.children, configPath));
  }
  return fields;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
