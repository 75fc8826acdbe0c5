import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import http from 'node:http';
import { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';

/**
 * Guards for the deployment files. No Docker engine runs in CI, so these read docker-compose.yml,
 * the Caddyfile and the Dockerfile the way Compose, Caddy and Docker would, and run the pieces
 * that are plain commands (health checks, the wrapper script, the prune step) for real.
 */

const root = join(__dirname, '..', '..');
const read = (file: string) => readFileSync(join(root, file), 'utf8');
const run = promisify(execFile);

// ---- docker-compose.yml ----------------------------------------------------------------------

interface ComposeService {
  image?: string;
  profiles?: string[];
  env_file?: unknown;
  ports?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  healthcheck?: { test: string[] };
}
const compose = parseYaml(read('docker-compose.yml')) as { services: Record<string, ComposeService> };
const gatehouse = compose.services.gatehouse;
const caddy = compose.services.caddy;

/** Compose's interpolation for the two forms this file uses (the test below checks it uses no other). */
const INTERPOLATION = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^$}]*))?\}/g;
function interpolate(value: string, env: Record<string, string>): string {
  return value.replace(INTERPOLATION, (_all, name: string, fallback?: string) => (env[name] ? env[name] : (fallback ?? '')));
}
function strings(node: unknown): string[] {
  if (typeof node === 'string') return [node];
  if (Array.isArray(node)) return node.flatMap(strings);
  if (node && typeof node === 'object') return Object.values(node).flatMap(strings);
  return [];
}

describe('docker-compose.yml', () => {
  it('uses only ${VAR} and ${VAR:-default}, the interpolation these checks understand', () => {
    const others = strings(compose).filter((s) => s.replace(INTERPOLATION, '').includes('$'));
    expect(others).toEqual([]);
  });

  it('passes an optional .env file into the gateway, so ${VAR} in config.yaml can be defined there', () => {
    expect(gatehouse.env_file).toEqual([{ path: '.env', required: false }]);
    // ...and a .env never reaches the image's build context.
    expect(read('.dockerignore').split('\n')).toContain('.env');
  });

  it('publishes the gateway on 127.0.0.1 only, on the port PORT names', () => {
    const ports = (env: Record<string, string>) => gatehouse.ports!.map((p) => interpolate(p, env));
    expect(ports({})).toEqual(['127.0.0.1:8080:8080']);
    expect(ports({ PORT: '9090' })).toEqual(['127.0.0.1:9090:9090']);
    // The gateway inside listens on the same PORT.
    expect(interpolate(gatehouse.environment!.PORT, { PORT: '9090' })).toBe('9090');
    expect(interpolate(gatehouse.environment!.PORT, {})).toBe('8080');
  });

  it('has a caddy profile with the official image, the Caddyfile and persistent certificates; the gateway runs in every profile', () => {
    expect(gatehouse.profiles).toBeUndefined();
    expect(caddy.profiles).toEqual(['caddy']);
    expect(caddy.image).toBe('caddy:2');
    expect(caddy.volumes).toContain('./Caddyfile:/etc/caddy/Caddyfile:ro');
    expect(caddy.volumes!.some((v) => v.endsWith(':/data'))).toBe(true);
    expect(interpolate(caddy.environment!.GATEHOUSE_PORT, { PORT: '9090' })).toBe('9090');
  });
});

// ---- health checks (compose and Dockerfile) -----------------------------------------------------

describe('health checks', () => {
  let server: http.Server;
  let port: number;
  let status = 200;
  const paths: string[] = [];

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      paths.push(req.url!);
      res.writeHead(req.url === '/healthz' ? status : 404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  /** Runs a health check command (["node", "-e", script]) as the container would, with PORT set; resolves to its exit code. */
  async function probe(command: string[]): Promise<number> {
    expect(command.slice(0, 2)).toEqual(['node', '-e']);
    paths.length = 0;
    const env = { PATH: process.env.PATH, PORT: String(port) };
    return run(process.execPath, command.slice(1), { env, timeout: 20000 }).then(
      () => 0,
      (err: { code?: number }) => err.code ?? -1,
    );
  }

  const composeCheck = () => {
    const [kind, ...command] = gatehouse.healthcheck!.test;
    expect(kind).toBe('CMD');
    return command;
  };
  const dockerfileCheck = () => {
    const healthcheck = dockerfile().find((i) => i.keyword === 'HEALTHCHECK')!;
    return JSON.parse(/\bCMD\s+(\[.*\])\s*$/.exec(healthcheck.args)![1]) as string[];
  };

  it.each([
    ['docker-compose.yml', composeCheck],
    ['Dockerfile', dockerfileCheck],
  ])('%s probes /healthz on the port in PORT and fails when it is not OK', async (_file, check) => {
    status = 200;
    expect(await probe(check())).toBe(0);
    expect(paths).toEqual(['/healthz']);
    status = 503;
    expect(await probe(check())).toBe(1);
    expect(paths).toEqual(['/healthz']);
  });
});

// ---- Caddyfile -------------------------------------------------------------------------------

describe('Caddyfile', () => {
  const caddyfile = read('Caddyfile')
    .split('\n')
    .filter((line) => !line.trim().startsWith('#'))
    .join('\n');

  it('proxies the site to the gateway without buffering responses, and compresses nothing', () => {
    const site = /^\{\$GATEHOUSE_DOMAIN\}\s*\{([\s\S]*)^\}/m.exec(caddyfile);
    expect(site).not.toBeNull();
    const proxy = /reverse_proxy\s+gatehouse:\{\$GATEHOUSE_PORT\}\s*\{([^}]*)\}/.exec(site![1]);
    expect(proxy).not.toBeNull();
    expect(proxy![1].split('\n').map((l) => l.trim())).toContain('flush_interval -1');
    // `encode` would compress server-sent events.
    expect(caddyfile).not.toMatch(/^\s*encode\b/m);
  });

  it('is shown in the README as it is', () => {
    const shown = /```caddy\n([\s\S]*?)```/.exec(read('README.md'))![1];
    expect(shown.trim()).toBe(caddyfile.trim());
  });

  it('reads only environment variables the caddy service sets', () => {
    const used = [...caddyfile.matchAll(/\{\$([A-Za-z_][A-Za-z0-9_]*)(?::[^}]*)?\}/g)].map((m) => m[1]);
    expect(used.length).toBeGreaterThan(0);
    for (const name of used) expect(Object.keys(caddy.environment!)).toContain(name);
  });
});

// ---- Dockerfile -------------------------------------------------------------------------------

interface Instruction {
  keyword: string;
  args: string;
}

/** The Dockerfile's instructions, with continuation lines joined and comments dropped (as Docker reads it). */
function dockerfile(): Instruction[] {
  const instructions: Instruction[] = [];
  let pending = '';
  for (const raw of read('Dockerfile').split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#')) continue;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1).trimEnd()} `;
      continue;
    }
    const text = (pending + line).trim();
    pending = '';
    if (!text) continue;
    const [, keyword, args] = /^(\S+)\s*([\s\S]*)$/.exec(text)!;
    instructions.push({ keyword: keyword.toUpperCase(), args });
  }
  return instructions;
}

/** Instructions per stage, keyed by the stage's name (`FROM … AS name`); "" holds what comes before the first FROM. */
function stages(): Map<string, Instruction[]> {
  const byStage = new Map<string, Instruction[]>([['', []]]);
  let current = byStage.get('')!;
  for (const instruction of dockerfile()) {
    if (instruction.keyword === 'FROM') {
      const name = /\bAS\s+(\S+)\s*$/i.exec(instruction.args)?.[1] ?? `stage${byStage.size}`;
      current = [instruction];
      byStage.set(name, current);
    } else {
      current.push(instruction);
    }
  }
  return byStage;
}

const runs = (instructions: Instruction[]) => instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args);

describe('Dockerfile', () => {
  it('builds both stages on the same Node.js LTS image (22 or 24)', () => {
    const all = stages();
    const arg = all.get('')!.find((i) => i.keyword === 'ARG' && i.args.startsWith('NODE_IMAGE='))!;
    expect(arg.args).toMatch(/^NODE_IMAGE=node:(22|24)-bookworm-slim$/);
    expect(all.get('build')![0].args).toBe('${NODE_IMAGE} AS build');
    expect(all.get('runtime')![0].args).toBe('${NODE_IMAGE} AS runtime');
    expect([...all.keys()].pop()).toBe('runtime');
  });

  it('installs no packages in the runtime stage and copies only dist, node_modules and package.json from the build', () => {
    const runtime = stages().get('runtime')!;
    for (const command of runs(runtime)) {
      expect(command).not.toMatch(/(?<![\w-])(apt-get|apt|apk|npm|npx|yarn|pnpm)(?![\w-])/);
      expect(command).not.toMatch(/(?<![\w-])(python3?|make|g\+\+|gcc|build-essential)(?![\w-])/);
    }
    const copied = runtime.filter((i) => i.keyword === 'COPY').map((i) => i.args);
    expect(copied).toEqual(['--from=build /app/package.json ./package.json', '--from=build /app/node_modules ./node_modules', '--from=build /app/dist ./dist']);
    // The compilers live in the build stage only.
    expect(runs(stages().get('build')!).join('\n')).toMatch(/apt-get install .*python3 make g\+\+/);
  });

  it('keeps TypeScript out of the runtime: devDependencies, and the devOptional packages npm prune --omit=dev would keep', async () => {
    const pkg = JSON.parse(read('package.json')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
    for (const name of ['typescript', 'ts-node']) {
      expect(pkg.devDependencies[name]).toBeDefined();
      expect(pkg.dependencies[name]).toBeUndefined();
    }
    // typeorm names ts-node as an optional peer, so the lockfile marks both "devOptional": pruning dev keeps them.
    const lock = JSON.parse(read('package-lock.json')) as { packages: Record<string, { devOptional?: boolean }> };
    const devOptional = Object.keys(lock.packages).filter((dir) => lock.packages[dir].devOptional);
    expect(devOptional).toEqual(expect.arrayContaining(['node_modules/typescript', 'node_modules/ts-node']));
    // Removing them all cannot remove something the server requires.
    for (const name of Object.keys(pkg.dependencies)) expect(devOptional).not.toContain(`node_modules/${name}`);

    const build = runs(stages().get('build')!).join('\n');
    expect(build).toContain('npm prune --omit=dev');
    // Run the build stage's removal step on a small tree: it removes the devOptional packages and nothing else.
    const script = /node -e "([^"]*devOptional[^"]*)"/.exec(build)![1];
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-prune-'));
    try {
      for (const name of ['typescript', 'yaml', '@scope/tool']) mkdirSync(join(dir, 'node_modules', name), { recursive: true });
      const packages = { '': {}, 'node_modules/typescript': { devOptional: true }, 'node_modules/@scope/tool': { devOptional: true }, 'node_modules/yaml': {} };
      writeFileSync(join(dir, 'package-lock.json'), JSON.stringify({ packages }));
      await run(process.execPath, ['-e', script], { cwd: dir });
      expect(existsSync(join(dir, 'node_modules', 'typescript'))).toBe(false);
      expect(existsSync(join(dir, 'node_modules', '@scope', 'tool'))).toBe(false);
      expect(existsSync(join(dir, 'node_modules', 'yaml'))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    // ...and the build fails if TypeScript is still there.
    expect(build).toContain('test ! -e node_modules/typescript');
  });

  it('keeps only the compiled addon of better-sqlite3', () => {
    const build = runs(stages().get('build')!).join('\n');
    expect(build).toMatch(/cd node_modules\/better-sqlite3 && mv build\/Release\/better_sqlite3\.node \. && rm -rf build deps src/);
    expect(build).toMatch(/mkdir -p build\/Release && mv better_sqlite3\.node build\/Release\//);
  });

  it('starts the gateway through the CLI, and puts the same CLI on the PATH as `gatehouse`', async () => {
    const runtime = stages().get('runtime')!;
    const cmd = runtime.filter((i) => i.keyword === 'CMD').pop()!;
    expect(JSON.parse(cmd.args)).toEqual(['node', '--max-semi-space-size=4', 'dist/server/cli/index.js', 'start']);
    expect(runtime.find((i) => i.keyword === 'WORKDIR')!.args).toBe('/app');

    // Run the printf that writes /usr/local/bin/gatehouse, into a temporary file, and read what it wrote.
    const printf = /printf ('[^']*') > \/usr\/local\/bin\/gatehouse/.exec(runs(runtime).join('\n'))!;
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-wrapper-'));
    try {
      await run('/bin/sh', ['-c', `printf ${printf[1]} > gatehouse`], { cwd: dir });
      expect(readFileSync(join(dir, 'gatehouse'), 'utf8')).toBe('#!/bin/sh\nexec node /app/dist/server/cli/index.js "$@"\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(runs(runtime).join('\n')).toContain('chmod 755 /usr/local/bin/gatehouse');
  });
});
