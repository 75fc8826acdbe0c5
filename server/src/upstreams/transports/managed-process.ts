import { ChildProcess, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import type { Logger } from '@nestjs/common';
import { StderrLog, StderrRing } from './stderr-log';

/** After SIGTERM, a process group gets this long to exit before SIGKILL. */
export const STOP_GRACE_MS = 3000;

export interface ProcessSpec {
  command: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  /** Ensured to exist before the start (the process's HOME). */
  home: string;
  /** stdio: stdin and stdout carry MCP; spawn: stdout is only more log. */
  stdio: 'mcp' | 'log';
}

export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The gateway stopped it (idle, shutdown, session end), rather than it ending or crashing by itself. */
  requested: boolean;
  /** Why it could not start at all (e.g. "spawn foo ENOENT"), if so. */
  error?: string;
}

/** Every process group still running, killed with SIGKILL if the gateway exits without stopping them. */
const liveGroups = new Set<number>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const pid of liveGroups) killGroup(pid, 'SIGKILL');
  });
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    // A negative pid signals the whole group (POSIX kill(2)): the command and every child it forked.
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is gone already.
  }
}

/**
 * One child process of the gateway, in its own process group (`detached`), so that stopping it
 * stops whatever it forked too (npx → node, uvx → python). Started without a shell: the command
 * and args are passed to execve as they are.
 */
export class ManagedProcess {
  readonly child: ChildProcess;
  readonly output: StderrLog;
  readonly startedAt = Date.now();
  readonly exited: Promise<ProcessExit>;
  private stopRequested = false;
  private exitInfo: ProcessExit | null = null;

  constructor(spec: ProcessSpec, label: string, logger: Logger, ring?: StderrRing) {
    installExitHook();
    mkdirSync(spec.home, { recursive: true, mode: 0o700 });
    this.output = new StderrLog(logger, label, ring && ((line) => ring.add(this.child?.pid, line)));
    this.child = spawn(spec.command, spec.args, {
      cwd: spec.cwd,
      env: spec.env,
      detached: true,
      shell: false,
      windowsHide: true,
      stdio: spec.stdio === 'mcp' ? ['pipe', 'pipe', 'pipe'] : ['ignore', 'pipe', 'pipe'],
    });
    const pid = this.child.pid;
    if (pid) liveGroups.add(pid);
    this.child.stderr!.on('data', (chunk: Buffer) => this.output.write(chunk));
    if (spec.stdio === 'log') this.child.stdout!.on('data', (chunk: Buffer) => this.output.write(chunk));
    this.exited = new Promise((resolve) => {
      const done = (exit: Omit<ProcessExit, 'requested'>) => {
        if (this.exitInfo) return;
        this.exitInfo = { ...exit, requested: this.stopRequested };
        if (pid) {
          // The leader is gone; anything it left in its group goes with it.
          killGroup(pid, 'SIGKILL');
          liveGroups.delete(pid);
        }
        this.output.flush();
        resolve(this.exitInfo);
      };
      this.child.once('exit', (code, signal) => done({ code, signal }));
      this.child.once('error', (err) => done({ code: null, signal: null, error: err.message }));
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return !this.exitInfo;
  }

  /** SIGTERM to the group, SIGKILL after the grace period; resolves once the process has exited. */
  async stop(graceMs = STOP_GRACE_MS): Promise<ProcessExit> {
    this.stopRequested = true;
    const pid = this.child.pid;
    if (this.exitInfo || !pid) return this.exited;
    killGroup(pid, 'SIGTERM');
    const timer = setTimeout(() => killGroup(pid, 'SIGKILL'), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** "exited with code 1", "killed by SIGSEGV", "could not start: spawn foo ENOENT". */
export function describeExit(exit: ProcessExit): string {
  if (exit.error) return `could not start: ${exit.error}`;
  if (exit.signal) return `killed by ${exit.signal}`;
  return `exited with code ${exit.code}`;
}
