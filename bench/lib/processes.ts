/**
 * Child processes of the benchmark: each server runs in its own process on loopback.
 * Every child is registered so it is killed at the end, on error, on Ctrl-C and at exit.
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createWriteStream, readFileSync, writeFileSync, WriteStream } from 'node:fs';
import net from 'node:net';

export interface Child {
  name: string;
  proc: ChildProcess;
  pid: number;
  /** Last lines of stdout+stderr, for error messages. */
  tail(): string;
  /** Resolves with the exit code (or signal) once the process has exited. */
  exited: Promise<string>;
}

const live = new Set<Child>();
let hooksInstalled = false;

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  // Last resort: synchronous kill of whatever is still running when we exit for any reason.
  process.on('exit', () => {
    for (const c of live) {
      try {
        c.proc.kill('SIGKILL');
      } catch {
        /* already gone */
      }
    }
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      process.stderr.write(`\nbench: ${sig}, stopping child processes\n`);
      void stopAll().finally(() => process.exit(130));
    });
  }
}

export interface SpawnOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Also append all output to this file. */
  logFile?: string;
}

export function spawnChild(name: string, args: string[], opts: SpawnOptions = {}): Child {
  installHooks();
  const proc = spawn(process.execPath, args, {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  if (proc.pid === undefined) throw new Error(`bench: could not start ${name}`);
  const lines: string[] = [];
  let log: WriteStream | undefined;
  if (opts.logFile) log = createWriteStream(opts.logFile, { flags: 'a' });
  const keep = (chunk: Buffer) => {
    log?.write(chunk);
    for (const l of chunk.toString('utf8').split('\n')) if (l.trim()) lines.push(l);
    if (lines.length > 60) lines.splice(0, lines.length - 60);
  };
  proc.stdout.on('data', keep);
  proc.stderr.on('data', keep);
  const exited = new Promise<string>((resolve) => {
    proc.once('exit', (code, signal) => {
      live.delete(child);
      log?.end();
      resolve(signal ?? String(code));
    });
  });
  const child: Child = { name, proc, pid: proc.pid, tail: () => lines.join('\n'), exited };
  live.add(child);
  return child;
}

/** Waits for the first stdout line that is a JSON object with a `url` (what the fixtures print). */
export async function waitForJsonUrl(child: Child, timeoutMs = 30_000): Promise<string> {
  const line = await waitForLine(child, /^\s*\{.*"url"\s*:\s*"[^"]+"/, timeoutMs);
  return (JSON.parse(line) as { url: string }).url;
}

/** Waits for a stdout line matching `re`; resolves with the line. */
export function waitForLine(child: Child, re: RegExp, timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => fail(new Error(`${child.name}: no line matching ${re} within ${timeoutMs} ms:\n${child.tail()}`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      buf += chunk.toString('utf8');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (re.test(line)) {
          cleanup();
          resolve(line);
          return;
        }
      }
    };
    const onExit = () => fail(new Error(`${child.name} exited early:\n${child.tail()}`));
    const cleanup = () => {
      clearTimeout(timer);
      child.proc.stdout!.off('data', onData);
      child.proc.off('exit', onExit);
    };
    const fail = (err: Error) => {
      cleanup();
      reject(err);
    };
    child.proc.stdout!.on('data', onData);
    child.proc.once('exit', onExit);
  });
}

/** SIGTERM, then SIGKILL after `graceMs`. */
export async function stopChild(child: Child, graceMs = 3000): Promise<void> {
  if (!live.has(child)) return;
  try {
    child.proc.kill('SIGTERM');
  } catch {
    /* gone */
  }
  const timer = setTimeout(() => {
    try {
      child.proc.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }, graceMs);
  await child.exited;
  clearTimeout(timer);
}

export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((c) => stopChild(c)));
}

export function liveChildren(): Child[] {
  return [...live];
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** VmRSS / VmHWM of a process in KiB (Linux /proc). */
export function procMem(pid: number): { rssKiB: number; hwmKiB: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rss = /VmRSS:\s+(\d+)/.exec(status);
  const hwm = /VmHWM:\s+(\d+)/.exec(status);
  return { rssKiB: rss ? Number(rss[1]) : NaN, hwmKiB: hwm ? Number(hwm[1]) : NaN };
}

/** Clock ticks per second, the unit of /proc/<pid>/stat's CPU times. */
const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU time (user + system, all threads) of a process in ms, from /proc/<pid>/stat (10 ms resolution). */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
}

/**
 * Resets the peak-RSS counter (VmHWM) of a process (Linux >= 4.0: write "5" to clear_refs).
 * Returns false when not permitted, in which case only the sampler's peak is available.
 */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}
