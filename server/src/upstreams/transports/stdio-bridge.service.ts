import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { sdkServerTransport, sdkTypes } from '../../common/mcp-sdk';
import type { Upstream } from '../upstream';
import { UpstreamsService } from '../upstreams.service';
import { describeExit, ManagedProcess } from './managed-process';
import { StderrRing } from './stderr-log';
import { ProcessLauncher, ProcessStatus, restartDelayMs, STABLE_AFTER_MS } from './process-launcher';
import { credentialEnv } from './process-env';
// The channel (and the MCP SDK it relays with) is required when the first process starts (common/mcp-sdk.ts).
import type { RelaySession, StdioChannel } from './stdio-channel';

/** Sessions of one shared process at most (each holds a transport until it ends or idles out): memory stays bounded. */
export const MAX_SHARED_SESSIONS = 1000;
/** How often sessions and shared processes are checked for idleness. */
const IDLE_SWEEP_MS = 1000;

/** Why a request could not reach a process: answered as a JSON-RPC error with this HTTP status. */
export class StdioRefusal extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

interface SessionEntry {
  session: RelaySession;
  channel: StdioChannel;
  slug: string;
}

/** What the bridge keeps per stdio upstream: its processes and their history, for the console. */
interface UpstreamProcesses {
  shared: StdioChannel | null;
  restartTimer: NodeJS.Timeout | null;
  failuresInRow: number;
  perSession: Set<StdioChannel>;
  restarts: number;
  lastExit: string | null;
  lastExitAt: number | null;
  stderr: StderrRing;
}

/**
 * stdio upstreams at /mcp/{slug}: each client MCP session gets an SDK StreamableHTTPServerTransport
 * whose messages are relayed to a process the gateway runs (stdio-channel.ts), after the proxy's
 * own checks (token, allow-list, scopes, rate limit). `per_session`: a process per session, with
 * the user's credential in its environment, at most `max_processes` at once (then 429).
 * `shared`: one process for every session, restarted with backoff when it crashes. Idle sessions
 * and processes are stopped after `idle_timeout`; every process is stopped at shutdown.
 */
@Injectable()
export class StdioBridgeService implements OnApplicationShutdown {
  private readonly logger = new Logger('Processes');
  private readonly sessions = new Map<string, SessionEntry>();
  private readonly byUpstream = new Map<string, UpstreamProcesses>();
  private sweeper: NodeJS.Timeout | null = null;
  private shuttingDown = false;

  constructor(
    private readonly launcher: ProcessLauncher,
    private readonly upstreams: UpstreamsService,
  ) {
    // Changed settings (command, env, limits) apply to the next process: the running ones stop.
    upstreams.onChange((slug) => void this.stopUpstream(slug, upstreams.get(slug)?.transport === 'stdio'));
  }

  /**
   * Serves one HTTP request of /mcp/{slug} for a stdio upstream. `body` is the parsed POST body;
   * `credential` the auth mode's headers for this user (a per-session process gets them as env);
   * `filterTools` what of a tools/list result the user may see (the proxy's tool gate), kept on
   * the session until its next request.
   */
  async handle(
    req: IncomingMessage,
    res: ServerResponse,
    upstream: Upstream,
    userId: string,
    credential: Record<string, string>,
    body: unknown,
    filterTools: RelaySession['filterTools'] = null,
  ): Promise<void> {
    const sid = req.headers['mcp-session-id'];
    if (typeof sid === 'string') {
      const entry = this.sessions.get(sid);
      // A session is its user's only: another token, even a valid one, does not find it (MCP transport spec: 404 for an unknown session).
      if (!entry || entry.slug !== upstream.slug || entry.session.userId !== userId) throw new StdioRefusal(404, -32001, 'Session not found');
      entry.session.lastUsed = entry.channel.lastUsed = Date.now();
      entry.session.filterTools = filterTools;
      return entry.session.transport.handleRequest(req, res, body);
    }
    if (req.method !== 'POST') throw new StdioRefusal(400, -32000, 'Bad Request: Mcp-Session-Id header is required');
    if (!sdkTypes().isInitializeRequest(body)) throw new StdioRefusal(400, -32000, 'Bad Request: a session starts with an initialize request');
    const channel = await this.channelFor(upstream, credential);
    const session: RelaySession = { id: '', transport: undefined!, userId, lastUsed: Date.now(), inFlight: new Map(), filterTools };
    const { StreamableHTTPServerTransport } = sdkServerTransport();
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => {
        session.id = id;
        this.sessions.set(id, { session, channel, slug: upstream.slug });
      },
      onsessionclosed: (id) => this.endSessionById(id),
    });
    session.transport = transport;
    transport.onmessage = (message: JSONRPCMessage) => channel.fromClient(session, message);
    channel.sessions.add(session);
    this.ensureSweeper();
    await transport.handleRequest(req, res, body);
    // The initialize was refused (e.g. a bad protocol version): no session was made.
    if (!session.id) this.endSession(session, channel);
  }

  /** The console's view of an upstream's processes. */
  status(upstream: Upstream): ProcessStatus {
    const state = this.byUpstream.get(upstream.slug);
    if (!state) return { state: 'stopped', running: 0, pids: [], restarts: 0, lastExit: null, lastExitAt: null, stderr: [] };
    const live = [...state.perSession, ...(state.shared ? [state.shared] : [])];
    return {
      state: state.restartTimer ? 'restarting' : live.length ? 'running' : 'stopped',
      running: live.length,
      pids: live.flatMap((c) => (c.proc.pid ? [c.proc.pid] : [])),
      restarts: state.restarts,
      lastExit: state.lastExit,
      lastExitAt: state.lastExitAt,
      stderr: state.stderr.last(),
    };
  }

  async onApplicationShutdown(): Promise<void> {
    this.shuttingDown = true;
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
    await Promise.all([...this.byUpstream.keys()].map((slug) => this.stopUpstream(slug, false)));
  }

  private stateOf(slug: string): UpstreamProcesses {
    let state = this.byUpstream.get(slug);
    if (!state) {
      state = { shared: null, restartTimer: null, failuresInRow: 0, perSession: new Set(), restarts: 0, lastExit: null, lastExitAt: null, stderr: new StderrRing() };
      this.byUpstream.set(slug, state);
    }
    return state;
  }

  private async channelFor(upstream: Upstream, credential: Record<string, string>): Promise<StdioChannel> {
    const settings = upstream.process!;
    const state = this.stateOf(upstream.slug);
    if (settings.instances === 'shared') {
      if (state.shared && state.shared.sessions.size >= MAX_SHARED_SESSIONS) {
        throw new StdioRefusal(429, -32004, `${upstream.name} has ${MAX_SHARED_SESSIONS} open sessions, its limit; try again later`, { 'Retry-After': '30' });
      }
      if (state.shared) return state.shared;
      if (state.restartTimer) throw new StdioRefusal(503, -32002, `${upstream.name} is restarting after a crash; try again shortly`, { 'Retry-After': '5' });
      return this.startShared(upstream, state);
    }
    if (state.perSession.size >= settings.maxProcesses) {
      throw new StdioRefusal(429, -32004, `${upstream.name} is at its limit of ${settings.maxProcesses} running sessions; try again later`, { 'Retry-After': '30' });
    }
    const channel = await this.start(upstream, credentialEnv(credential), false);
    state.perSession.add(channel);
    void channel.proc.exited.then(() => state.perSession.delete(channel));
    return channel;
  }

  private async startShared(upstream: Upstream, state: UpstreamProcesses): Promise<StdioChannel> {
    // A shared process serves every user: no one user's credential goes into its environment.
    const channel = await this.start(upstream, {}, true);
    state.shared = channel;
    void channel.proc.exited.then((exit) => {
      if (state.shared === channel) state.shared = null;
      if (exit.requested || this.shuttingDown) return;
      if (Date.now() - channel.proc.startedAt > STABLE_AFTER_MS) state.failuresInRow = 0;
      const delay = restartDelayMs(state.failuresInRow++);
      this.logger.warn(`stdio upstream ${upstream.slug}: its shared process ${describeExit(exit)}; restarting in ${delay / 1000} s`);
      state.restartTimer = setTimeout(() => {
        state.restartTimer = null;
        const current = this.upstreams.get(upstream.slug);
        if (this.shuttingDown || !current || current.transport !== 'stdio' || current.process?.instances !== 'shared' || state.shared) return;
        state.restarts++;
        void this.startShared(current, state).catch((err: Error) => this.logger.error(`stdio upstream ${upstream.slug}: restart failed: ${err.message}`));
      }, delay);
      state.restartTimer.unref();
    });
    return channel;
  }

  private async start(upstream: Upstream, credential: Record<string, string>, shared: boolean): Promise<StdioChannel> {
    const spec = await this.launcher.specFor(upstream, 'mcp', credential);
    const label = `stdio upstream ${upstream.slug}`;
    const state = this.stateOf(upstream.slug);
    const proc = new ManagedProcess(spec, label, this.logger, state.stderr);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { StdioChannel } = require('./stdio-channel') as typeof import('./stdio-channel');
    const channel = new StdioChannel(proc, shared, { label: upstream.name, timeoutMs: upstream.timeoutMs, logger: this.logger });
    void proc.exited.then((exit) => {
      state.lastExit = describeExit(exit);
      state.lastExitAt = Date.now();
      if (!exit.requested) this.logger.warn(`${label}: process ${proc.pid ?? '(none)'} ${state.lastExit}`);
      // Its sessions end with it (their requests in flight got an error first, see StdioChannel):
      // the client's next request gets 404, and it starts a new session.
      setImmediate(() => {
        for (const session of [...channel.sessions]) this.endSession(session, channel);
      });
    });
    return channel;
  }

  private endSessionById(id: string): void {
    const entry = this.sessions.get(id);
    if (entry) this.endSession(entry.session, entry.channel);
  }

  /** Ends a session: its transport closes, and a per-session process stops. */
  private endSession(session: RelaySession, channel: StdioChannel): void {
    if (session.id) this.sessions.delete(session.id);
    channel.detach(session);
    void session.transport.close().catch(() => undefined);
    if (!channel.shared) void channel.proc.stop();
  }

  /** Stops every process of an upstream (its settings changed, it was disabled, or the gateway stops). */
  private async stopUpstream(slug: string, keepState: boolean): Promise<void> {
    const state = this.byUpstream.get(slug);
    if (!state) return;
    if (state.restartTimer) clearTimeout(state.restartTimer);
    state.restartTimer = null;
    const channels = [...state.perSession, ...(state.shared ? [state.shared] : [])];
    for (const entry of this.sessions.values()) if (entry.slug === slug) this.endSession(entry.session, entry.channel);
    await Promise.all(channels.map((c) => c.proc.stop()));
    if (!keepState) this.byUpstream.delete(slug);
  }

  private ensureSweeper(): void {
    if (this.sweeper) return;
    this.sweeper = setInterval(() => this.sweepIdle(), IDLE_SWEEP_MS);
    this.sweeper.unref();
  }

  /** Sessions without a request (and none in flight) for idle_timeout end; so does a shared process nobody uses. */
  private sweepIdle(): void {
    const now = Date.now();
    for (const [id, entry] of this.sessions) {
      const idleMs = this.upstreams.find(entry.slug)?.process?.idleTimeoutMs ?? 0;
      if (!entry.session.inFlight.size && now - entry.session.lastUsed > idleMs) {
        this.logger.log(`stdio upstream ${entry.slug}: session idle for ${Math.round(idleMs / 1000)} s; ended`);
        this.endSessionById(id);
      }
    }
    for (const [slug, state] of this.byUpstream) {
      const shared = state.shared;
      const idleMs = this.upstreams.find(slug)?.process?.idleTimeoutMs ?? 0;
      if (shared && !shared.sessions.size && !shared.inFlightCount && now - shared.lastUsed > idleMs) {
        this.logger.log(`stdio upstream ${slug}: shared process idle for ${Math.round(idleMs / 1000)} s; stopped`);
        void shared.proc.stop();
      }
    }
    if (!this.sessions.size && ![...this.byUpstream.values()].some((s) => s.shared)) {
      clearInterval(this.sweeper!);
      this.sweeper = null;
    }
  }
}
