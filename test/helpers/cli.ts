import { spawn, SpawnOptions } from 'node:child_process';
import { join } from 'node:path';
import type { SpawnedGateway } from './spawn-gateway';

const ROOT = join(__dirname, '..', '..');
const CLI = join(ROOT, 'server', 'src', 'cli', 'index.ts');
const MAIN = join(ROOT, 'server', 'src', 'main.ts');

export interface CliOptions {
  /** Set (or, with undefined, remove) variables; the gateway's own variables start unset. */
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Run as this user (the tests run as root in some environments; see the data-directory check). */
  uid?: number;
  gid?: number;
  /** Run server/src/main.ts (`node dist/server/main.js`) instead of the cli entry point. */
  main?: boolean;
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Spawns the real `gatehouse` command (server/src/cli/index.ts, with ts-node as in development). */
function spawnCommand(args: string[], opts: CliOptions) {
  const options: SpawnOptions = {
    cwd: opts.cwd ?? ROOT,
    env: {
      ...process.env,
      // Whatever the test process itself has (startTestGateway sets the admin variables) must not leak in.
      GATEHOUSE_CONFIG: undefined,
      GATEHOUSE_ADMIN_EMAIL: undefined,
      GATEHOUSE_ADMIN_PASSWORD: undefined,
      GATEHOUSE_MASTER_KEY: undefined,
      PORT: undefined,
      HOST: undefined,
      PUBLIC_URL: undefined,
      DATA_DIR: undefined,
      TS_NODE_PROJECT: join(ROOT, 'tsconfig.json'),
      NODE_PATH: join(ROOT, 'node_modules'),
      ...opts.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(opts.uid !== undefined ? { uid: opts.uid, gid: opts.gid } : {}),
  };
  return spawn(process.execPath, ['--require', 'ts-node/register/transpile-only', opts.main ? MAIN : CLI, ...args], options);
}

/** Runs `gatehouse <args>` to completion. */
export function runCli(args: string[], opts: CliOptions = {}): Promise<CliResult> {
  const proc = spawnCommand(args, opts);
  let stdout = '';
  let stderr = '';
  proc.stdout!.on('data', (d) => (stdout += d));
  proc.stderr!.on('data', (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    proc.on('error', reject);
    proc.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Starts `gatehouse <args>` (e.g. start) and keeps it running; same interface as spawnGateway. */
export function spawnCli(args: string[], opts: CliOptions = {}): SpawnedGateway {
  const proc = spawnCommand(args, opts);
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  return {
    proc,
    output: () => out,
    exited,
    waitFor(text, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const deadline = setTimeout(() => reject(new Error(`timed out waiting for ${text}; output:\n${out}`)), timeoutMs);
        const check = () => {
          const found = typeof text === 'string' ? out.includes(text) : text.test(out);
          if (found) {
            clearTimeout(deadline);
            resolve(out);
          } else if (proc.exitCode !== null) {
            clearTimeout(deadline);
            reject(new Error(`gatehouse exited (${proc.exitCode}) before ${text}; output:\n${out}`));
          } else setTimeout(check, 50);
        };
        check();
      });
    },
    async stop() {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      return exited;
    },
  };
}
