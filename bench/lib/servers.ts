/**
 * Starts the benchmark's server processes on loopback: the upstream MCP fixture (`direct`), the
 * bare proxy, the gateway from dist/, and the in-process token-validation harness.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import ts from 'typescript';
import { ADMIN, RESULTS_DIR, ROOT, TS_NODE } from '../config';
import { Child, freePort, spawnChild, waitForJsonUrl, waitForLine } from './processes';
import { profileArgs } from './profiling';
import { sleep } from './run-log';

export interface Server {
  child: Child;
  /** The MCP endpoint. */
  url: string;
}

export interface Servers {
  upstream: Server;
  bare: Server;
  gateway: Server & { base: string; startMs: number };
  /** Booting while the others start and the OAuth flow runs; waiting for "go" on stdin (phases/token-validation.ts). */
  tokenValidation: Promise<Child>;
}

/** The token-validation harness boots in parallel with the proxies; it needs the upstream's URL. */
export async function startServers(tmp: string): Promise<Servers> {
  const upstream = await startUpstream(tmp);
  const tokenValidation = startTokenValidation(tmp, upstream.url);
  tokenValidation.catch(() => undefined);
  const [bare, gateway] = await Promise.all([startBareProxy(tmp, upstream.url), startGateway(tmp, upstream.url)]);
  return { upstream, bare, gateway, tokenValidation };
}

async function startUpstream(tmp: string): Promise<Server> {
  // Session mode: one Mcp-Session-Id per target and phase (stateless mode builds a new McpServer per
  // request, which made the upstream itself the bottleneck at ~850 calls/s on 2 cores).
  const child = spawnChild('upstream', [...TS_NODE, 'test/fixtures/upstream-mcp-server.ts', '--port', '0'], {
    cwd: ROOT,
    logFile: join(tmp, 'upstream.log'),
  });
  return { child, url: await waitForJsonUrl(child) };
}

async function startBareProxy(tmp: string, upstreamUrl: string): Promise<Server> {
  const prof = profileArgs('bare-proxy');
  // Plain JS like the gateway's dist/: under ts-node the proxy's RSS would include the TypeScript compiler.
  const script = transpileToResults('bench/bare-proxy.ts');
  const child = spawnChild('bare proxy', [...prof.args, script, '--target', new URL(upstreamUrl).origin], {
    cwd: ROOT,
    env: prof.env,
    logFile: join(tmp, 'bare-proxy.log'),
  });
  const base = await waitForJsonUrl(child);
  return { child, url: base + new URL(upstreamUrl).pathname };
}

/** The environment of a gateway the benches start: its config file, data directory, loopback address, public URL and first admin. */
export function gatewayEnv(o: { configFile: string; dataDir: string; port: number; base: string }): Record<string, string> {
  return {
    GATEHOUSE_CONFIG: o.configFile,
    DATA_DIR: o.dataDir,
    PORT: String(o.port),
    HOST: '127.0.0.1',
    PUBLIC_URL: o.base,
    GATEHOUSE_ADMIN_EMAIL: ADMIN.email,
    GATEHOUSE_ADMIN_PASSWORD: ADMIN.password,
  };
}

/** Kept in step with package.json "start:prod" and the Dockerfile's CMD. */
const GATEWAY_NODE_FLAGS = ['--max-semi-space-size=4'];

/**
 * A gateway from a build's dist/ (this checkout's unless `build.dist`), configured for the bench;
 * `build.name` tells two builds apart (bench/ab.ts) in their files and log, and leaves the profiler out.
 */
export async function startGateway(tmp: string, upstreamUrl: string, build: { dist?: string; name?: string } = {}): Promise<Servers['gateway']> {
  const cli = join(build.dist ?? join(ROOT, 'dist'), 'server', 'cli', 'index.js');
  if (!existsSync(cli)) throw new Error(`${cli} not found: ${build.dist ? 'build it first' : 'run "npm run build:server" first (npm run bench does)'}`);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const dataDir = join(tmp, build.name ? `data-${build.name}` : 'gateway-data');
  const configFile = join(tmp, build.name ? `gateway-${build.name}.yaml` : 'gatehouse.yaml');
  const label = build.name ? `gateway ${build.name}` : 'gateway';
  // JSON is valid YAML.
  writeFileSync(
    configFile,
    JSON.stringify({
      rate_limit: { oauth_per_minute: 100_000, login_per_minute: 100_000, mcp_per_minute: 0 },
      upstreams: [{ slug: 'bench', url: upstreamUrl, auth: { mode: 'headers', headers: { 'X-Api-Key': 'test' } } }],
    }),
  );
  const prof = build.name ? { args: [], env: {} } : profileArgs('gateway');
  const t = performance.now();
  // The same Node flags as `npm run start:prod` and the Docker image.
  const child = spawnChild(label, [...prof.args, ...GATEWAY_NODE_FLAGS, cli, 'start'], {
    cwd: ROOT,
    logFile: join(tmp, build.name ? `gateway-${build.name}.log` : 'gateway.log'),
    env: { ...prof.env, ...gatewayEnv({ configFile, dataDir, port, base }) },
  });
  await waitForLine(child, /Gatehouse listening/);
  for (let i = 0; ; i++) {
    const status = await httpStatus(`${base}/healthz`).catch(() => 0);
    if (status === 200) break;
    if (i > 100) throw new Error(`${label} /healthz never answered 200 (last ${status}):\n${child.tail()}`);
    await sleep(50);
  }
  return { child, base, url: `${base}/mcp/bench`, startMs: performance.now() - t };
}

/** bench/token-validation.ts in its own process; resolves once it has booted and holds a token. */
async function startTokenValidation(tmp: string, upstreamUrl: string): Promise<Child> {
  const child = spawnChild('token-validation', [...TS_NODE, 'bench/token-validation.ts', '--upstream', upstreamUrl], {
    cwd: ROOT,
    logFile: join(tmp, 'token-validation.log'),
  });
  await waitForLine(child, /"ready":true/, 90_000);
  return child;
}

/** Transpiles one TS file into bench/results/.build/ (modules still resolve from the repo's node_modules). */
function transpileToResults(rel: string): string {
  const out = ts.transpileModule(readFileSync(join(ROOT, rel), 'utf8'), {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
    fileName: rel,
  });
  const dir = join(RESULTS_DIR, '.build');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, rel.split('/').pop()!.replace(/\.ts$/, '.js'));
  writeFileSync(file, out.outputText);
  return file;
}

function httpStatus(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
      .on('error', reject);
  });
}
