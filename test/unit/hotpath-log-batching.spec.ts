import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { LOG_BATCH_BYTES, LOG_FLUSH_MS } from '../../server/src/logging/app-logger';

/**
 * Issue 12: each write to stdout is a job for libuv's thread pool; one per access line cost the
 * proxy more CPU than the line itself. The gateway's stdout stream now writes lines in batches
 * (LOG_BATCH_BYTES, or LOG_FLUSH_MS after the first line waiting), and still loses none at exit.
 */
describe('hotpath: access lines reach stdout in batches', () => {
  let out: { stdout: string; stderr: string };

  beforeAll(async () => {
    out = await promisify(execFile)(process.execPath, ['--require', 'ts-node/register/transpile-only', 'test/fixtures/log-batching.ts'], {
      cwd: join(__dirname, '..', '..'),
      timeout: 30_000,
    });
  });

  it('writes 20 lines spread over a few milliseconds in a few writes, not one write each', () => {
    const writes = Number(/writes=(\d+)/.exec(out.stderr)?.[1]);
    // Before: a write per line (20). Now the 20 lines (about 1.5 KB) wait for their batch; a
    // flush every LOG_FLUSH_MS may write what is waiting if the machine is slow.
    expect(writes).toBeLessThanOrEqual(3);
  });

  it('loses no line and keeps their order, even when the process exits with a batch waiting', () => {
    const lines = out.stdout.split('\n').filter((l) => l.startsWith('{'));
    expect(lines.map((l) => (JSON.parse(l) as { n: number }).n)).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  it('bounds the wait: a batch is written after at most LOG_FLUSH_MS, and is small', () => {
    expect(LOG_FLUSH_MS).toBeLessThanOrEqual(250);
    expect(LOG_BATCH_BYTES).toBeLessThanOrEqual(16 * 1024);
  });
});
