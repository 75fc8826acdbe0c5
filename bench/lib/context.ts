/** What every measured phase gets: the servers, the access token, the three targets, and how a phase uses MCP sessions. */
import type http from 'node:http';
import { agentFor, closeSession, openSession, Target, TargetKey } from './mcp-http';
import { problems } from './run-log';
import type { Servers } from './servers';

export const KEYS: TargetKey[] = ['direct', 'bare', 'gateway'];
export type PerTarget<T> = Record<TargetKey, T>;
export const perTarget = <T>(f: (k: TargetKey) => T): PerTarget<T> => ({ direct: f('direct'), bare: f('bare'), gateway: f('gateway') });
/** Round r runs the targets in a rotated order, so none is always first or last. */
export const rotated = <T>(xs: T[], r: number): T[] => xs.map((_, i) => xs[(i + r) % xs.length]);

export interface BenchContext {
  servers: Servers;
  /** The access token from the OAuth flow, sent to all three targets. */
  token: string;
  targets: PerTarget<Target>;
  /** The targets in table order (direct, bare proxy, gateway); phases rotate it per round. */
  order: Target[];
  /**
   * One keep-alive socket per target for the node:http calls (SSE, 1 MiB), shared from the
   * warm-up on so those phases reuse warm connections; run.ts destroys them after the last phase.
   */
  agents: PerTarget<http.Agent>;
}

export function createContext(servers: Servers, token: string): BenchContext {
  const targets: PerTarget<Target> = {
    direct: { key: 'direct', label: 'direct', url: servers.upstream.url },
    bare: { key: 'bare', label: 'bare proxy', url: servers.bare.url },
    gateway: { key: 'gateway', label: 'gateway', url: servers.gateway.url },
  };
  return { servers, token, targets, order: KEYS.map((k) => targets[k]), agents: perTarget(() => agentFor(1)) };
}

/**
 * Runs one phase in a fresh MCP session per target (initialize + notifications/initialized through
 * that target), deleted at the end of the phase so the upstream's event store stays small.
 */
export async function withSessions<T>(ctx: BenchContext, fn: () => Promise<T>): Promise<T> {
  for (const t of ctx.order) await openSession(t, ctx.token);
  try {
    return await fn();
  } finally {
    for (const t of ctx.order) await closeSession(t, ctx.token).catch((e) => problems.push(String(e)));
  }
}
