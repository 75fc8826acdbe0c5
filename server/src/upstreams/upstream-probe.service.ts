import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { Upstream } from './upstream';
import { UpstreamsService } from './upstreams.service';
import { commandProblem } from './transports/command-path';
import { SpawnedUpstreamsService } from './transports/spawned-upstreams.service';

/** How often every upstream is probed after the first round at start. */
export const PROBE_INTERVAL_MS = 60_000;
/** A probe waits at most this long for the upstream's response headers. */
const PROBE_TIMEOUT_MS = 5_000;

/** What the last probe of an upstream found; for the start summary, the logs and the console. */
export interface UpstreamProbeState {
  slug: string;
  url: string;
  reachable: boolean;
  /** Epoch milliseconds of the last probe. */
  lastProbeAt: number;
  /** Until the response headers arrived; null when none did. */
  latencyMs: number | null;
  /** The HTTP status the upstream answered (any answer means reachable, even 401 or 405). */
  status: number | null;
  /** Why it is unreachable, e.g. "connect ECONNREFUSED 127.0.0.1:9"; null when reachable. */
  probeError: string | null;
}

/**
 * A cheap reachability check of every enabled upstream: one HEAD request without credentials
 * (no body is sent or read, and no MCP session or stream is opened), at start and then every
 * minute. A wrong URL or a stopped upstream shows up at once instead of at a user's first tool
 * call. The state lives in memory, one entry per upstream; changes after the first round are logged.
 */
@Injectable()
export class UpstreamProbeService implements OnModuleDestroy {
  private readonly logger = new Logger('Upstreams');
  private readonly states = new Map<string, UpstreamProbeState>();
  private timer: NodeJS.Timeout | null = null;
  private round: Promise<UpstreamProbeState[]> | null = null;

  constructor(
    private readonly upstreams: UpstreamsService,
    private readonly spawned: SpawnedUpstreamsService,
  ) {}

  /** The last probe's result for an upstream; undefined before its first probe (or for an unknown slug). */
  probeState(slug: string): UpstreamProbeState | undefined {
    return this.states.get(slug);
  }

  /** Probes every upstream now, then every intervalMs; resolves with the first round's results. */
  start(intervalMs = PROBE_INTERVAL_MS): Promise<UpstreamProbeState[]> {
    this.stop();
    const first = this.probeAll();
    this.timer = setInterval(() => void this.probeAll(true), intervalMs);
    this.timer.unref();
    return first;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  onModuleDestroy(): void {
    this.stop();
  }

  /** One round over the enabled upstreams (a round still running is joined, not doubled). */
  probeAll(logChanges = false): Promise<UpstreamProbeState[]> {
    this.round ??= this.runRound(logChanges).finally(() => (this.round = null));
    return this.round;
  }

  private async runRound(logChanges: boolean): Promise<UpstreamProbeState[]> {
    const upstreams = this.upstreams.list();
    const results = await Promise.all(upstreams.map((u) => this.probeOne(u)));
    const current = new Set(upstreams.map((u) => u.slug));
    // Bounded by the registry: a disabled or removed upstream's entry goes.
    for (const slug of this.states.keys()) if (!current.has(slug)) this.states.delete(slug);
    for (const state of results) {
      const before = this.states.get(state.slug);
      this.states.set(state.slug, state);
      if (logChanges && before && before.reachable !== state.reachable) this.logger.warn(describeProbe(state, before));
    }
    return results;
  }

  /**
   * Transport-aware: an HTTP upstream at its URL, a spawned one at its child's loopback port; a
   * stdio one is started per session, so only its command is checked (found and executable).
   */
  private async probeOne(upstream: Upstream): Promise<UpstreamProbeState> {
    if (upstream.transport === 'http') return probe(upstream, upstream.url);
    if (upstream.transport === 'spawn') {
      const target = this.spawned.targetOf(upstream);
      if (target) return probe(upstream, target);
      return {
        slug: upstream.slug,
        url: `spawn: ${upstream.process!.command}`,
        lastProbeAt: Date.now(),
        reachable: false,
        latencyMs: null,
        status: null,
        probeError: 'its process is not running',
      };
    }
    const problem = commandProblem(upstream.process!.command, upstream.process!.cwd);
    return { slug: upstream.slug, url: `stdio: ${upstream.process!.command}`, lastProbeAt: Date.now(), reachable: !problem, latencyMs: null, status: null, probeError: problem };
  }
}

/** One line for people: "upstream notes is reachable (HTTP 405 in 3 ms)", or what failed. */
export function describeProbe(state: UpstreamProbeState, before?: UpstreamProbeState): string {
  if (state.reachable && state.status === null) return `upstream ${state.slug} is ready (${state.url}, started per session)`;
  if (state.reachable) return `upstream ${state.slug} is ${before ? 'reachable again' : 'reachable'} (HTTP ${state.status} in ${state.latencyMs} ms)`;
  return `upstream ${state.slug} is UNREACHABLE at ${state.url}: ${state.probeError}; probed again every ${PROBE_INTERVAL_MS / 1000} s`;
}

function probe(upstream: Upstream, target: string): Promise<UpstreamProbeState> {
  const started = Date.now();
  const base = { slug: upstream.slug, url: target, lastProbeAt: started };
  return new Promise((resolve) => {
    let settled = false;
    const done = (state: Omit<UpstreamProbeState, 'slug' | 'url' | 'lastProbeAt'>) => {
      if (settled) return;
      settled = true;
      resolve({ ...base, ...state });
    };
    let req;
    try {
      const url = new URL(target);
      const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
      // agent: false: a fresh connection, closed afterwards, so probes never hold pooled sockets.
      req = send(url, { method: 'HEAD', agent: false, timeout: Math.min(PROBE_TIMEOUT_MS, upstream.timeoutMs), headers: { 'user-agent': 'Gatehouse upstream probe' } });
    } catch (err) {
      return done({ reachable: false, latencyMs: null, status: null, probeError: (err as Error).message });
    }
    req.on('response', (res) => {
      done({ reachable: true, latencyMs: Date.now() - started, status: res.statusCode ?? null, probeError: null });
      res.resume();
      req.destroy();
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${Math.min(PROBE_TIMEOUT_MS, upstream.timeoutMs) / 1000} s`)));
    req.on('error', (err) => done({ reachable: false, latencyMs: null, status: null, probeError: errorText(err) }));
    req.end();
  });
}

/** Node reports a failed connect to a name with several addresses (localhost: ::1 and 127.0.0.1) as an AggregateError without a message. */
function errorText(err: Error): string {
  if (err instanceof AggregateError && err.errors.length) return err.errors.map((e: Error) => e.message).join('; ');
  return err.message || (err as NodeJS.ErrnoException).code || String(err);
}
