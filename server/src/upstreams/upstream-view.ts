import type { ToolArgumentsMode } from '../audit/tool-arguments';
import type { AuthModeSummary } from './auth-modes';
import type { ToolSummary } from './connection-test/connection-test-result';
import type { UpstreamCheck } from './upstream-check.entity';
import type { UpstreamProbeState } from './upstream-probe.service';
import type { AllowList, Upstream, UpstreamSource } from './upstream';
import type { UpstreamTransport } from './transports/transport';

/** An upstream as the admin API shows it (GET /admin/api/upstreams). Never a secret value. */
export interface UpstreamView {
  slug: string;
  name: string;
  url: string;
  /** http, stdio or spawn; for the last two, `process` says what runs (env values never: only their names). */
  transport: UpstreamTransport;
  process: {
    command: string;
    args: string[];
    cwd: string | null;
    envNames: string[];
    instances: string;
    idleTimeoutSeconds: number;
    maxProcesses: number;
    port: number | null;
    path: string;
  } | null;
  enabled: boolean;
  source: UpstreamSource;
  /** Why the console cannot edit it (it comes from config.yaml), or null. */
  readOnlyReason: string | null;
  timeoutSeconds: number;
  scopes: string[];
  mcpUrl: string;
  auth: {
    mode: string;
    summary: string;
    /** The mode's form values without secrets (AuthModeStrategy.formValues). */
    settings: Record<string, unknown>;
    /** The upstream-wide secrets set, by what they are (never their values). */
    secretsSet: string[];
  };
  allow: AllowList;
  /** What the audit log keeps of its traffic: `toolArguments` 'digest' (default) or 'values'. */
  audit: { toolArguments: ToolArgumentsMode };
  status: {
    lastCheckAt: number | null;
    /** "<stage>: <message>" of the last test connection when it failed; null when it passed or never ran. */
    lastError: string | null;
    /** The tools the last successful test listed. */
    tools: ToolSummary[] | null;
    /**
     * The last reachability probe (UpstreamProbeService: a HEAD request without credentials at start
     * and every minute); null before the first one (e.g. an upstream just added, or disabled).
     */
    probe: { reachable: boolean; lastProbeAt: number; latencyMs: number | null; httpStatus: number | null; error: string | null } | null;
    // Traffic figures come from the audit rollups (not wired here yet): null until they are.
    requests24h: number | null;
    errors24h: number | null;
    p50Ms: number | null;
    p95Ms: number | null;
  };
}

export function upstreamView(
  u: Upstream,
  auth: { summary: AuthModeSummary; settings: Record<string, unknown> },
  readOnlyReason: string | null,
  check: UpstreamCheck | null,
  probe: UpstreamProbeState | null = null,
): UpstreamView {
  const result = check?.result ?? null;
  return {
    slug: u.slug,
    name: u.name,
    url: withoutPassword(u.url),
    transport: u.transport,
    process: u.process && {
      command: u.process.command,
      args: [...u.process.args],
      cwd: u.process.cwd,
      envNames: [...u.process.envNames],
      instances: u.process.instances,
      idleTimeoutSeconds: Math.round(u.process.idleTimeoutMs / 1000),
      maxProcesses: u.process.maxProcesses,
      port: u.process.port,
      path: u.process.path,
    },
    enabled: u.enabled,
    source: u.source,
    readOnlyReason,
    timeoutSeconds: Math.round(u.timeoutMs / 1000),
    scopes: [...u.scopes],
    mcpUrl: u.resource,
    auth: { mode: u.authMode, summary: auth.summary.summary, settings: auth.settings, secretsSet: auth.summary.secretsSet },
    allow: structuredClone(u.allow),
    audit: { toolArguments: u.toolArguments ?? 'digest' },
    status: {
      lastCheckAt: check?.checkedAt ?? null,
      lastError: result && !result.ok ? `${result.stage}: ${result.message}` : null,
      tools: result?.ok ? result.tools : null,
      probe: probe && { reachable: probe.reachable, lastProbeAt: probe.lastProbeAt, latencyMs: probe.latencyMs, httpStatus: probe.status, error: probe.probeError },
      requests24h: null,
      errors24h: null,
      p50Ms: null,
      p95Ms: null,
    },
  };
}

/** config.yaml may put a password in an upstream's URL (the console refuses one): it is a secret, so it is masked. */
function withoutPassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (!parsed.password) return url;
    parsed.password = '****';
    return parsed.toString();
  } catch {
    return url;
  }
}
