import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

/**
 * Issue 12 (idle RSS): what a default gateway never runs is not loaded at start. The MCP SDK (with
 * zod, ajv and hono, about 13 MB of RSS) serves only stdio upstreams, the bundle at /mcp and the
 * console's connection test; the pg driver only PostgreSQL. They are required on first use
 * (common/mcp-sdk.ts, database/change-feed.ts). The gateway boots in a process of its own, so that
 * Node's module cache shows what its start loaded (Jest's registry would not).
 */
const ROOT = join(__dirname, '..', '..');

describe('hotpath: a default gateway loads no feature it does not use', () => {
  let report: { health: number; found: Record<string, string[]> };

  beforeAll(async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--require', 'ts-node/register/transpile-only', 'test/fixtures/loaded-at-start.ts'], {
      cwd: ROOT,
      // The question is about the default gateway: SQLite, whatever engine the test matrix runs.
      env: { ...process.env, GATEHOUSE_TEST_DB: 'sqlite' },
      timeout: 60_000,
    });
    report = JSON.parse(stdout.trim().split('\n').pop()!);
  });

  it('boots and answers /healthz', () => {
    expect(report.health).toBe(200);
  });

  it('does not load the MCP SDK at start (no stdio upstream, no bundle request, no connection test)', () => {
    expect(report.found['@modelcontextprotocol/sdk']).toEqual([]);
  });

  it('does not load the pg driver on SQLite', () => {
    expect(report.found.pg).toEqual([]);
  });
});
