/**
 * `npm run bench:data`: what the gateway costs with a grown database compared with a small one.
 * Seeds a data directory with 10,000 users, 50,000 clients, 100,000 grants (with consents and
 * tokens) and 10,000,000 audit rows over the 90-day retention window (`--scale 0.1` for a tenth of
 * each) and a small one (one page of every list: SMALL in data-growth/seed.ts), starts a gateway
 * from dist/ on each, on loopback, and measures both in alternating rounds: proxied tools/call latency and throughput,
 * sign-in (POST /login), token exchange (authorization_code and refresh_token), and the console's
 * lists and dashboard. Prints them side by side with the difference in %; writes
 * bench/results/data-growth.json. Sends traffic only to 127.0.0.1. See bench/README.md.
 *
 * Flags: --scale <n> (default 1), --engine sqlite|postgres (the seeders in data-growth/seed.ts),
 * --database-url <url> (PostgreSQL: the server to create the two databases on; default DATABASE_URL
 * or GATEHOUSE_TEST_PG_URL, else a throwaway cluster from scripts/pg-throwaway.sh), --keep (keep
 * the data directories and databases).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { Client } from 'pg';
import { DATABASE_FILE } from '../server/src/database/database.module';
import { RESULTS_DIR, ROOT, TS_NODE } from './config';
import { FULL, scaled, SEEDERS, SeedResult, SMALL } from './data-growth/seed';
import { Gateway, measureAll, Measured } from './data-growth/measure';
import { runMain } from './lib/main';
import { freePort, spawnChild, stopAll, stopChild, waitForJsonUrl, waitForLine } from './lib/processes';
import { log, sleep, startClock } from './lib/run-log';
import { round } from './lib/stats';
import { gatewayEnv } from './lib/servers';
import { formatColumns } from './lib/table';

const UPSTREAMS = ['bench', 'notes', 'files', 'search', 'crm'];

async function startGateway(tmp: string, name: string, dataDir: string, upstreamUrl: string, databaseUrl?: string): Promise<Gateway> {
  const cli = join(ROOT, 'dist', 'server', 'cli', 'index.js');
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const configFile = join(tmp, `${name}.yaml`);
  // JSON is valid YAML. Only `bench` is proxied to; the others are named by seeded rows.
  writeFileSync(
    configFile,
    JSON.stringify({
      rate_limit: { oauth_per_minute: 1_000_000, login_per_minute: 1_000_000, mcp_per_minute: 0, admin_per_minute: 1_000_000 },
      upstreams: UPSTREAMS.map((slug) => ({
        slug,
        url: slug === 'bench' ? upstreamUrl : `http://127.0.0.1:9/mcp/${slug}`,
        auth: { mode: 'headers', headers: { 'X-Api-Key': 'test' } },
      })),
    }),
  );
  const t = performance.now();
  const child = spawnChild(`gateway (${name})`, ['--max-semi-space-size=4', cli, 'start'], {
    cwd: ROOT,
    logFile: join(tmp, `${name}.log`),
    env: { ...gatewayEnv({ configFile, dataDir, port, base }), ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}) },
  });
  await waitForLine(child, /Gatehouse listening/, 600_000);
  for (let i = 0; ; i++) {
    const res = await fetch(`${base}/healthz`).catch(() => null);
    if (res?.status === 200) break;
    if (i > 200) throw new Error(`gateway ${name}: /healthz never answered 200:\n${child.tail()}`);
    await sleep(50);
  }
  return { name, child, base, mcpUrl: `${base}/mcp/bench`, startMs: performance.now() - t };
}

const fileMiB = (path: string) => {
  try {
    return statSync(path).size / 1048576;
  } catch {
    return 0;
  }
};

/**
 * PostgreSQL for the two gateways: a database each (small and full) on the given server, or on a
 * throwaway cluster started for the run. Loopback only: the bench sends no traffic elsewhere.
 */
class PostgresTarget {
  private throwawayState: string | null = null;
  private adminUrl = '';
  readonly urls: Record<'small' | 'full', string> = { small: '', full: '' };

  async open(tmp: string, given: string | undefined): Promise<void> {
    if (!given) {
      this.throwawayState = join(tmp, 'pg-throwaway.state');
      const started = spawnSync(join(ROOT, 'scripts', 'pg-throwaway.sh'), ['start'], { env: { ...process.env, PG_THROWAWAY_STATE: this.throwawayState }, encoding: 'utf8' });
      if (started.status !== 0) throw new Error(`scripts/pg-throwaway.sh start failed:\n${started.stderr}`);
      given = started.stdout.trim();
      log(`throwaway PostgreSQL cluster at ${given}`);
    }
    this.adminUrl = given;
    const suffix = `${process.pid}_${Date.now().toString(36)}`;
    for (const name of ['small', 'full'] as const) {
      const url = new URL(given);
      url.pathname = `/gatehouse_data_${name}_${suffix}`;
      await this.admin(`CREATE DATABASE ${url.pathname.slice(1)}`);
      this.urls[name] = url.toString();
    }
  }

  async sizeMiB(name: 'small' | 'full'): Promise<number> {
    const rows = await this.admin(`SELECT pg_database_size('${new URL(this.urls[name]).pathname.slice(1)}') AS bytes`);
    return Number(rows[0].bytes) / 1048576;
  }

  async close(keep: boolean): Promise<void> {
    if (this.throwawayState) {
      if (keep) return log(`kept the throwaway cluster: stop it with PG_THROWAWAY_STATE=${this.throwawayState} scripts/pg-throwaway.sh stop`);
      spawnSync(join(ROOT, 'scripts', 'pg-throwaway.sh'), ['stop'], { env: { ...process.env, PG_THROWAWAY_STATE: this.throwawayState }, stdio: 'ignore' });
      return;
    }
    if (keep) return log(`kept the databases ${this.urls.small} and ${this.urls.full}`);
    for (const url of Object.values(this.urls)) if (url) await this.admin(`DROP DATABASE IF EXISTS ${new URL(url).pathname.slice(1)} WITH (FORCE)`).catch(() => undefined);
  }

  private async admin(sql: string): Promise<Array<Record<string, unknown>>> {
    const client = new Client({ connectionString: this.adminUrl });
    await client.connect();
    try {
      return (await client.query(sql)).rows as Array<Record<string, unknown>>;
    } finally {
      await client.end();
    }
  }
}

function table(m: Measured): string {
  const rows = m.rows.map((r) => {
    const diff = ((r.full - r.small) / r.small) * 100;
    const worse = r.higherIsBetter ? -diff : diff;
    return [r.name, r.unit, r.small.toFixed(r.digits ?? 2), r.full.toFixed(r.digits ?? 2), `${diff >= 0 ? '+' : ''}${diff.toFixed(1)} %`, worse > 10 ? '> 10 % worse' : ''];
  });
  const header = ['measure', 'unit', 'small', 'full', 'full vs small', ''];
  return formatColumns(header, rows, [0, 1, 5]).join('\n') + '\n';
}

async function main(): Promise<void> {
  const opts = new Command()
    .option('--scale <n>', 'multiplies every count of the full size', '1')
    .option('--engine <name>', `database engine (${Object.keys(SEEDERS).join(', ')})`, 'sqlite')
    .option('--database-url <url>', 'PostgreSQL server for --engine postgres (default DATABASE_URL, GATEHOUSE_TEST_PG_URL, else a throwaway cluster)')
    .option('--keep', 'keep the data directories (and databases)')
    .parse()
    .opts<{ scale: string; engine: string; databaseUrl?: string; keep?: boolean }>();
  const scale = Number(opts.scale);
  if (!(scale > 0)) throw new Error(`--scale must be a positive number, not ${opts.scale}`);
  const seed = SEEDERS[opts.engine];
  if (!seed) throw new Error(`--engine ${opts.engine}: no seeder (have ${Object.keys(SEEDERS).join(', ')})`);
  const sizes = scaled(scale);
  startClock();
  mkdirSync(RESULTS_DIR, { recursive: true });
  const tmp = mkdtempSync(join(tmpdir(), 'gatehouse-data-bench-'));
  const dirs = { small: join(tmp, 'small'), full: join(tmp, 'full') };
  const pg = opts.engine === 'postgres' ? new PostgresTarget() : null;
  try {
    await pg?.open(tmp, opts.databaseUrl ?? process.env.DATABASE_URL ?? process.env.GATEHOUSE_TEST_PG_URL);
    const databaseUrl = (name: 'small' | 'full') => pg?.urls[name];
    const upstreamChild = spawnChild('upstream', [...TS_NODE, 'test/fixtures/upstream-mcp-server.ts', '--port', '0'], { cwd: ROOT, logFile: join(tmp, 'upstream.log') });
    const upstreamUrl = await waitForJsonUrl(upstreamChild);
    log('first start of both gateways: migrations create the databases and the admin account');
    for (const name of ['small', 'full'] as const) await stopChild((await startGateway(tmp, name, dirs[name], upstreamUrl, databaseUrl(name))).child);

    const now = Date.now();
    log(
      `seeding (${opts.engine}, scale ${scale}): ${sizes.users} users, ${sizes.clients} clients, ${sizes.grants} grants with tokens, ${sizes.auditRows} audit rows over ${sizes.days} days`,
    );
    const seeded: SeedResult = await seed({ dataDir: dirs.full, databaseUrl: databaseUrl('full'), upstreams: UPSTREAMS }, sizes, now);
    const smallSeed = await seed({ dataDir: dirs.small, databaseUrl: databaseUrl('small'), upstreams: UPSTREAMS }, SMALL, now);
    const dbFile = join(dirs.full, DATABASE_FILE);
    const databaseMiB = async () => (pg ? pg.sizeMiB('full') : fileMiB(dbFile));
    log(`seeded in ${seeded.seconds.toFixed(0)} s; database ${(await databaseMiB()).toFixed(0)} MiB; starting both gateways`);

    const small = await startGateway(tmp, 'small', dirs.small, upstreamUrl, databaseUrl('small'));
    const full = await startGateway(tmp, 'full', dirs.full, upstreamUrl, databaseUrl('full'));
    log(`ready: small in ${small.startMs.toFixed(0)} ms, full in ${full.startMs.toFixed(0)} ms (its start ran audit retention and the migrations check)`);
    const measured = await measureAll([small, full], [smallSeed, seeded]);
    const walMiB = fileMiB(`${dbFile}-wal`);
    const fullMiB = await databaseMiB();
    await stopChild(small.child);
    await stopChild(full.child);

    const text =
      `\nData growth (${opts.engine}, scale ${scale}): small = ${SMALL.users} users, ${SMALL.clients} clients, ${SMALL.grants} grants, ${SMALL.auditRows} audit rows; full = ${sizes.users} users, ${sizes.clients} clients, ${sizes.grants} grants, ${sizes.auditRows} audit rows\n` +
      `seeding took ${seeded.seconds.toFixed(0)} s; full database ${fullMiB.toFixed(0)} MiB${pg ? '' : `, its WAL ${walMiB.toFixed(1)} MiB after the run`}\n\n` +
      table(measured);
    process.stdout.write(text);
    const json = {
      at: new Date(now).toISOString(),
      engine: opts.engine,
      scale,
      sizes,
      fullSizes: FULL,
      seedS: round(seeded.seconds, 1),
      databaseMiB: round(fullMiB, 1),
      ...(pg ? {} : { walMiB: round(walMiB, 2) }),
      startMs: { small: round(small.startMs, 0), full: round(full.startMs, 0) },
      smallSizes: SMALL,
      rows: measured.rows.map((r) => ({ ...r, small: round(r.small, 3), full: round(r.full, 3), diffPct: round(((r.full - r.small) / r.small) * 100, 1) })),
    };
    writeFileSync(join(RESULTS_DIR, opts.engine === 'sqlite' ? 'data-growth.json' : `data-growth-${opts.engine}.json`), JSON.stringify(json, null, 2) + '\n');
  } finally {
    await stopAll();
    await pg?.close(Boolean(opts.keep)).catch((err) => log(`could not drop the bench databases: ${(err as Error).message}`));
    if (opts.keep) log(`kept the data directories under ${tmp}`);
    else rmSync(tmp, { recursive: true, force: true });
  }
}

runMain('bench:data', main);
