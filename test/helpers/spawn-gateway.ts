import { ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');

export interface SpawnedGateway {
  proc: ChildProcess;
  output(): string;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  waitFor(text: string | RegExp, timeoutMs?: number): Promise<string>;
  stop(): Promise<number | null>;
}

/** Runs the gateway's real entry point (server/src/main.ts) as its own process; `as` runs it as another user (needs root). */
export function spawnGateway(env: Record<string, string | undefined>, cwd: string, as?: { uid: number; gid: number }): SpawnedGateway {
  const proc = spawn(process.execPath, ['--require', 'ts-node/register/transpile-only', join(ROOT, 'server', 'src', 'main.ts')], {
    cwd,
    ...as,
    env: {
      ...process.env,
      GATEHOUSE_CONFIG: undefined,
      GATEHOUSE_ADMIN_EMAIL: undefined,
      GATEHOUSE_ADMIN_PASSWORD: undefined,
      TS_NODE_PROJECT: join(ROOT, 'tsconfig.json'),
      NODE_PATH: join(ROOT, 'node_modules'),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout.on('data', (d) => (out += d));
  proc.stderr.on('data', (d) => (out += d));
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
            reject(new Error(`gateway exited (${proc.exitCode}) before ${text}; output:\n${out}`));
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
