/**
 * Token validation cost alone, measured in-process: boots the gateway from server/src
 * (test/helpers/gateway.ts → app.factory.startGateway) on a temporary DATA_DIR, gets an
 * access token through the real OAuth flow, then times GrantsService.verifyAccessToken:
 *
 * - cached:   the valid token, in the in-memory cache (the proxy's steady state)
 * - uncached: the valid token with its cache entry dropped before each check (2 SQLite lookups)
 * - unknown:  random tokens never issued (1 SQLite lookup that misses)
 *
 * Run by bench/run.ts as its own process:
 *   node --require ts-node/register/transpile-only bench/token-validation.ts --upstream <mcp url>
 * Prints `{"ready":true}` once booted, waits for a line on stdin, measures, prints one JSON line
 * `{"result": {...}}` and exits. Standalone (stdin not piped): measures at once.
 */
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { sha256 } from '../server/src/common/crypto';
import { GrantsService } from '../server/src/oauth/grants/grants.service';
import { ADMIN, startTestGateway } from '../test/helpers/gateway';
import { connectWithOAuth } from '../test/helpers/oauth-client';

const CACHED_N = 200_000;
const UNCACHED_N = 5_000;
const UNKNOWN_N = 5_000;

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function waitForGo(): Promise<void> {
  if (process.stdin.isTTY) return Promise.resolve();
  return new Promise((resolve) => {
    process.stdin.once('data', () => resolve());
    process.stdin.once('end', () => resolve());
  });
}

async function timeLoop(n: number, fn: (i: number) => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await fn(i);
  return Number(process.hrtime.bigint() - t0) / 1e3 / n; // µs per call
}

async function main(): Promise<void> {
  const upstream = arg('--upstream');
  if (!upstream) throw new Error('--upstream <mcp url> is required');
  const gw = await startTestGateway({
    config: {
      upstreams: [{ slug: 'bench', url: upstream, auth: { mode: 'headers', headers: { 'X-Api-Key': 'test' } } }],
      rate_limit: { oauth_per_minute: 100_000, login_per_minute: 100_000 },
    },
  });
  try {
    const { client, provider } = await connectWithOAuth(gw.mcpUrl('bench'), ADMIN, { clientName: 'gatehouse-bench' });
    await client.close();
    const token = provider.tokens()?.access_token;
    if (!token) throw new Error('no access token from the OAuth flow');
    const tokens = gw.app.get(GrantsService);
    const hash = sha256(token);
    // The cache is private; reach in only to drop the entry for the "uncached" case.
    const cache = (tokens as unknown as { cache: { delete(h: string): void } }).cache;
    if (!cache || typeof cache.delete !== 'function') throw new Error('GrantsService has no cache.delete(); update bench/token-validation.ts');

    process.stdout.write(JSON.stringify({ ready: true }) + '\n');
    await waitForGo();

    if (!(await tokens.verifyAccessToken(token))) throw new Error('verifyAccessToken rejected a fresh token');
    const unknown = Array.from({ length: UNKNOWN_N }, () => randomBytes(32).toString('base64url'));
    // Warm-up of every path.
    await timeLoop(20_000, () => tokens.verifyAccessToken(token));
    await timeLoop(500, () => (cache.delete(hash), tokens.verifyAccessToken(token)));
    await timeLoop(500, (i) => tokens.verifyAccessToken(unknown[i]));

    const cachedUs = await timeLoop(CACHED_N, () => tokens.verifyAccessToken(token));
    const uncachedUs = await timeLoop(UNCACHED_N, () => (cache.delete(hash), tokens.verifyAccessToken(token)));
    const unknownUs = await timeLoop(UNKNOWN_N, (i) => tokens.verifyAccessToken(unknown[i]));
    // Wrapped in a promise like the verify calls, so the loop's await costs the same.
    const sha256Us = await timeLoop(CACHED_N, () => Promise.resolve(sha256(token)));
    if (!(await tokens.verifyAccessToken(token))) throw new Error('token no longer valid after the loops');

    process.stdout.write(
      JSON.stringify({
        result: {
          cachedUs,
          uncachedUs,
          unknownUs,
          sha256Us,
          iterations: { cached: CACHED_N, uncached: UNCACHED_N, unknown: UNKNOWN_N },
        },
      }) + '\n',
    );
  } finally {
    await gw.close();
    gw.cleanup();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`token-validation failed: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);
