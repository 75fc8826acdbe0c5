import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ADMIN, freePort } from './gateway';
import { spawnGateway, SpawnedGateway } from './spawn-gateway';
import { dropPostgresDatabase, postgresDatabase } from './test-database';

/**
 * Several gateway processes (the real entry point) on one PostgreSQL database, as behind a load
 * balancer: one public URL, one master key (GATEHOUSE_MASTER_KEY), a data directory each. Always on
 * PostgreSQL, whatever GATEHOUSE_TEST_DB says (test-database.ts finds a server).
 *
 *   replicas = await prepareReplicas({ prefix: 'gatehouse-x-' });   // in beforeAll
 *   await replicas.start((r) => ({ rate_limit: NO_RATE_LIMITS, upstreams: [...] }));
 *   await replicas?.stop();                                          // in afterAll
 */

/** Rate limits out of the way of tests that sign in and call often (the MCP limit off). */
export const NO_RATE_LIMITS = { oauth_per_minute: 10_000, login_per_minute: 10_000, mcp_per_minute: 0 };

/** Polls (bounded, far below the 30 s safety reload of the change feed) until check passes; returns whether it did. */
export async function within(ms: number, check: () => Promise<boolean>): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** What a replica's configuration is built from. */
export interface ReplicaContext {
  name: string;
  port: number;
  publicUrl: string;
  dataDir: string;
  databaseUrl: string;
}

/**
 * The configuration of one replica beyond what every replica has (`server.host/port/public_url/
 * data_dir` and `database.url`, filled in by the helper); `server` keys given here are added to those.
 */
export type ReplicaConfig = (replica: ReplicaContext) => { server?: Record<string, unknown>; [section: string]: unknown };

/**
 * A load balancer on loopback in front of the replicas: one public URL (cookies, the issuer, a
 * provider's redirect URI). Each request goes to the replica named by its `x-replica` header (for
 * requests in flight together), else by the routing chosen last: one replica (`to`), by path
 * (`routeBy`), or each replica in turn (`roundRobin`).
 */
export interface Balancer {
  url: string;
  to(replica: string): void;
  routeBy(choose: (path: string) => string): void;
  roundRobin(): void;
  /** How many requests each replica was sent since the start. */
  served: Record<string, number>;
  close(): Promise<void>;
}

async function startBalancer(ports: Record<string, number>): Promise<Balancer> {
  const names = Object.keys(ports);
  let choose: (path: string) => string = () => names[0];
  let turn = 0;
  const served: Record<string, number> = Object.fromEntries(names.map((n) => [n, 0]));
  // No keep-alive towards the replicas: each request is routed on its own, never by a reused socket.
  const agent = new http.Agent({ keepAlive: false });
  const server = http.createServer((req, res) => {
    const named = req.headers['x-replica'];
    const chosen = typeof named === 'string' && names.includes(named) ? named : choose(req.url ?? '/');
    served[chosen]++;
    const forward = http.request({ host: '127.0.0.1', port: ports[chosen], method: req.method, path: req.url, headers: req.headers, agent }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.rawHeaders);
      answer.pipe(res);
    });
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    to: (replica) => void (choose = () => replica),
    routeBy: (by) => void (choose = by),
    roundRobin: () => void (choose = () => names[turn++ % names.length]),
    served,
    close: () => {
      server.closeAllConnections();
      agent.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface ReplicaSet {
  /** The temporary directory: config files, a data directory per replica, the database's key. */
  dir: string;
  databaseUrl: string;
  masterKey: string;
  /** The balancer's URL, or (without one) the first replica's: every replica's public URL. */
  publicUrl: string;
  balancer: Balancer | null;
  gateways: Record<string, SpawnedGateway>;
  /** A replica's own URL (not through the balancer). */
  url(name: string): string;
  /** Starts the replicas one after the other, in the order of `names` (the first creates the admin). */
  start(config: ReplicaConfig): Promise<void>;
  /** Stops every replica started and the balancer, drops the database, removes the directory. */
  stop(): Promise<void>;
}

/**
 * The database, the ports, the master key and (with `balancer`) the balancer of replicas `names`
 * (default a and b), none started yet: what a fixture needs before them (e.g. the public URL) is known.
 */
export async function prepareReplicas(opts: { prefix: string; names?: string[]; balancer?: boolean }): Promise<ReplicaSet> {
  const names = opts.names ?? ['a', 'b'];
  const dir = mkdtempSync(join(tmpdir(), opts.prefix));
  const gateways: Record<string, SpawnedGateway> = {};
  let balancer: Balancer | null = null;
  const stop = async () => {
    await Promise.all(Object.values(gateways).map((gw) => gw.stop()));
    await balancer?.close();
    dropPostgresDatabase(dir);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const databaseUrl = await postgresDatabase(dir);
    const ports: Record<string, number> = {};
    for (const name of names) ports[name] = await freePort();
    const url = (name: string) => `http://127.0.0.1:${ports[name]}`;
    if (opts.balancer) balancer = await startBalancer(ports);
    const publicUrl = balancer?.url ?? url(names[0]);
    const masterKey = randomBytes(32).toString('base64');
    return {
      dir,
      databaseUrl,
      masterKey,
      publicUrl,
      balancer,
      gateways,
      url,
      async start(config) {
        for (const name of names) {
          const replica = { name, port: ports[name], publicUrl, dataDir: join(dir, name), databaseUrl };
          const { server, ...rest } = config(replica);
          const file = join(dir, `${name}.yaml`);
          const full = { server: { host: '127.0.0.1', port: replica.port, public_url: publicUrl, data_dir: replica.dataDir, ...server }, database: { url: databaseUrl }, ...rest };
          writeFileSync(file, JSON.stringify(full)); // JSON is valid YAML
          const env = { GATEHOUSE_CONFIG: file, GATEHOUSE_ADMIN_EMAIL: ADMIN.email, GATEHOUSE_ADMIN_PASSWORD: ADMIN.password, GATEHOUSE_MASTER_KEY: masterKey };
          // Kept before waiting, so that stop() ends a replica that never became ready too.
          gateways[name] = spawnGateway(env, dir);
          await gateways[name].waitFor('Gatehouse listening', 60_000);
        }
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
