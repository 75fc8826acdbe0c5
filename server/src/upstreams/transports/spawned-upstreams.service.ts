import { request } from 'node:http';
import { createServer, AddressInfo } from 'node:net';
import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import type { Upstream } from '../upstream';
import { UpstreamsService } from '../upstreams.service';
import { describeExit, ManagedProcess } from './managed-process';
import { StderrRing } from './stderr-log';
import { ProcessLauncher, ProcessStatus, restartDelayMs, STABLE_AFTER_MS } from './process-launcher';

/** How long a start waits for the child to answer HTTP before the gateway goes on without it. */
const READY_WAIT_MS = 15_000;
const READY_POLL_MS = 200;
/** A running child is health-checked this often; this many failures in a row restart it. */
const HEALTH_INTERVAL_MS = 10_000;
const HEALTH_FAILURES_TO_RESTART = 3;
const HEALTH_TIMEOUT_MS = 5_000;

interface Spawned {
  proc: ManagedProcess | null;
  port: number | null;
  healthy: boolean;
  healthFailures: number;
  restarts: number;
  failuresInRow: number;
  restartTimer: NodeJS.Timeout | null;
  lastExit: string | null;
  lastExitAt: number | null;
  stderr: StderrRing;
}

/**
 * Spawned HTTP upstreams (`transport: spawn`, like mcp-oauth-proxy's MCP_SPAWN_CMD): the gateway
 * runs the command at start, waits until it answers HTTP on its loopback port, checks its health,
 * restarts it with backoff when it exits or stops answering, and the proxy forwards to
 * http://127.0.0.1:{port}{path} like to any HTTP upstream (targetOf).
 */
@Injectable()
export class SpawnedUpstreamsService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Processes');
  private readonly bySlug = new Map<string, Spawned>();
  private healthTimer: NodeJS.Timeout | null = null;
  private shuttingDown = false;
  private booted = false;
  /** Per upstream, the start or stop under way: they run one after another, never crossing. */
  private readonly queues = new Map<string, Promise<void>>();

  constructor(
    private readonly launcher: ProcessLauncher,
    private readonly upstreams: UpstreamsService,
  ) {
    // The registry's first load (at init) tells every slug too: the bootstrap starts them instead.
    upstreams.onChange((slug) => {
      if (this.booted) void this.inTurn(slug, () => this.reconcile(slug));
    });
  }

  /** After every module's init (the registry is loaded), before the gateway listens and probes. */
  async onApplicationBootstrap(): Promise<void> {
    await Promise.all(
      this.upstreams
        .list()
        .filter((u) => u.transport === 'spawn')
        .map((u) => this.start(u)),
    );
    this.healthTimer = setInterval(() => void this.checkHealth(), HEALTH_INTERVAL_MS);
    this.healthTimer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    this.shuttingDown = true;
    if (this.healthTimer) clearInterval(this.healthTimer);
    await Promise.all([...this.bySlug.keys()].map((slug) => this.inTurn(slug, () => this.stop(slug))));
  }

  private inTurn(slug: string, step: () => Promise<void>): Promise<void> {
    const next = (this.queues.get(slug) ?? Promise.resolve()).then(step).catch((err: Error) => this.logger.error(`spawned upstream ${slug}: ${err.message}`));
    this.queues.set(slug, next);
    void next.finally(() => {
      if (this.queues.get(slug) === next) this.queues.delete(slug);
    });
    return next;
  }

  /** Where the proxy sends this upstream's requests; null while its child is not running. */
  targetOf(upstream: Upstream): string | null {
    const s = this.bySlug.get(upstream.slug);
    if (!s?.proc?.running || !s.port) return null;
    return `http://127.0.0.1:${s.port}${upstream.process!.path}`;
  }

  status(upstream: Upstream): ProcessStatus {
    const s = this.bySlug.get(upstream.slug);
    if (!s) return { state: 'stopped', running: 0, pids: [], restarts: 0, lastExit: null, lastExitAt: null, port: null, stderr: [] };
    const running = !!s.proc?.running;
    return {
      state: s.restartTimer ? 'restarting' : running ? (s.healthy ? 'running' : 'starting') : 'stopped',
      running: running ? 1 : 0,
      pids: running && s.proc?.pid ? [s.proc.pid] : [],
      restarts: s.restarts,
      lastExit: s.lastExit,
      lastExitAt: s.lastExitAt,
      port: s.port,
      stderr: s.stderr.last(),
    };
  }

  /** An upstream's settings changed: its child restarts with the new ones (or stops). */
  private async reconcile(slug: string): Promise<void> {
    if (this.shuttingDown) return;
    await this.stop(slug);
    const upstream = this.upstreams.get(slug);
    if (upstream?.transport === 'spawn') await this.start(upstream);
  }

  private async start(upstream: Upstream): Promise<void> {
    if (this.shuttingDown) return;
    await this.stop(upstream.slug);
    const s = this.bySlug.get(upstream.slug) ?? this.fresh();
    this.bySlug.set(upstream.slug, s);
    // The port is chosen once and kept across restarts, so the proxy's target stays the same.
    s.port = upstream.process!.port ?? s.port ?? (await freeLoopbackPort());
    const spec = await this.launcher.specFor(upstream, 'log', {}, s.port);
    const label = `spawned upstream ${upstream.slug}`;
    const proc = new ManagedProcess(spec, label, this.logger, s.stderr);
    s.proc = proc;
    s.healthy = false;
    s.healthFailures = 0;
    void proc.exited.then((exit) => {
      s.lastExit = describeExit(exit);
      s.lastExitAt = Date.now();
      if (exit.requested || this.shuttingDown || s.proc !== proc) return;
      this.scheduleRestart(upstream.slug, s, `its process ${s.lastExit}`, Date.now() - proc.startedAt);
    });
    const url = `http://127.0.0.1:${s.port}${upstream.process!.path}`;
    const deadline = Date.now() + READY_WAIT_MS;
    while (proc.running && Date.now() < deadline && !this.shuttingDown) {
      if (await answers(url, READY_POLL_MS * 5)) {
        s.healthy = true;
        this.logger.log(`${label} is up on port ${s.port} (pid ${proc.pid})`);
        return;
      }
      await new Promise((r) => setTimeout(r, READY_POLL_MS));
    }
    if (proc.running) this.logger.warn(`${label} does not answer on port ${s.port} after ${READY_WAIT_MS / 1000} s; the gateway goes on and keeps checking`);
  }

  private scheduleRestart(slug: string, s: Spawned, why: string, ranMs: number): void {
    if (ranMs > STABLE_AFTER_MS) s.failuresInRow = 0;
    const delay = restartDelayMs(s.failuresInRow++);
    this.logger.warn(`spawned upstream ${slug}: ${why}; restarting in ${delay / 1000} s`);
    s.restartTimer = setTimeout(() => {
      s.restartTimer = null;
      const upstream = this.upstreams.get(slug);
      if (this.shuttingDown || upstream?.transport !== 'spawn' || s.proc?.running) return;
      s.restarts++;
      void this.inTurn(slug, () => this.start(upstream));
    }, delay);
    s.restartTimer.unref();
  }

  private async checkHealth(): Promise<void> {
    for (const [slug, s] of this.bySlug) {
      const upstream = this.upstreams.get(slug);
      const proc = s.proc;
      if (!upstream || !proc?.running || !s.port) continue;
      if (await answers(`http://127.0.0.1:${s.port}${upstream.process!.path}`, HEALTH_TIMEOUT_MS)) {
        s.healthy = true;
        s.healthFailures = 0;
        continue;
      }
      s.healthy = false;
      if (++s.healthFailures < HEALTH_FAILURES_TO_RESTART || s.proc !== proc) continue;
      s.proc = null;
      await this.inTurn(slug, async () => void (await proc.stop()));
      this.scheduleRestart(slug, s, `no answer to ${HEALTH_FAILURES_TO_RESTART} health checks in a row`, Date.now() - proc.startedAt);
    }
  }

  private async stop(slug: string): Promise<void> {
    const s = this.bySlug.get(slug);
    if (!s) return;
    if (s.restartTimer) clearTimeout(s.restartTimer);
    s.restartTimer = null;
    const proc = s.proc;
    if (proc) await proc.stop();
  }

  private fresh(): Spawned {
    return {
      proc: null,
      port: null,
      healthy: false,
      healthFailures: 0,
      restarts: 0,
      failuresInRow: 0,
      restartTimer: null,
      lastExit: null,
      lastExitAt: null,
      stderr: new StderrRing(),
    };
  }
}

/** Whether anything answers HTTP at the URL (any status: a 405 or 401 still means it is up). */
function answers(url: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(url, { method: 'HEAD', agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

/** A port free on 127.0.0.1 now (the child binds it moments later; the kernel does not hand it out again so soon). */
function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
