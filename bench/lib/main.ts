/** How a bench script runs as a process: its exit code, its failure message, its temporary directory. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stopAll } from './processes';

/**
 * Runs `main` as the process: exit 0 when it ends; on a failure prints `<name> failed: <stack>`,
 * stops the child processes still running (lib/processes.ts) and exits 1.
 */
export function runMain(name: string, main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    async (err) => {
      process.stderr.write(`\n${name} failed: ${(err as Error)?.stack ?? String(err)}\n`);
      await stopAll().catch(() => undefined);
      process.exit(1);
    },
  );
}

/** Runs `fn` with a new temporary directory; afterwards, whatever happened, stops every child process (they write there) and removes it. */
export async function inTempDir<T>(prefix: string, fn: (tmp: string) => Promise<T>): Promise<T> {
  const tmp = mkdtempSync(join(tmpdir(), prefix));
  try {
    return await fn(tmp);
  } finally {
    await stopAll();
    rmSync(tmp, { recursive: true, force: true });
  }
}
