/**
 * `npm run bench:admin`: the admin console's reads at scale. Builds a data directory holding
 * 1,000,000 audit rows over 7 days (with the rollups the audit batches would have written for
 * them), 10,000 grants, 500 clients and 200 users; starts the real gateway (dist/) on it; then times
 * over HTTP, as the console calls them, a page of the audit log with each single filter, the
 * dashboard, the grants list (when that route exists) and the export of every row, sampling the
 * gateway's RSS during the export. Prints a table and writes bench/results/admin-scale.json.
 * Sends traffic only to 127.0.0.1.
 *
 * Env: ADMIN_BENCH_ROWS (default 1000000), ADMIN_BENCH_GRANTS (10000), ADMIN_BENCH_SAMPLES (40
 * timed requests per case), ADMIN_BENCH_KEEP=1 (keep the data directory, to look into it).
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { encodeCursor } from '../server/src/admin/pagination';
import { RollupInput, RollupWriter } from '../server/src/audit/rollup-writer';
import type { Tx } from '../server/src/database/transactions';
import { DATABASE_FILE } from '../server/src/database/database.module';
import { signInToConsole } from '../test/helpers/admin-api';
import { ADMIN, RESULTS_DIR, ROOT } from './config';
import { runMain } from './lib/main';
import { Child, freePort, procMem, resetPeakRss, spawnChild, stopAll, stopChild, waitForLine } from './lib/processes';
import { RssSampler } from './lib/rss-sampler';
import { log, sleep, startClock } from './lib/run-log';
import { percentile, round } from './lib/stats';
import { gatewayEnv } from './lib/servers';
import { formatColumns } from './lib/table';

const AUDIT_ROWS = Number(process.env.ADMIN_BENCH_ROWS ?? 1_000_000);
const GRANTS = Number(process.env.ADMIN_BENCH_GRANTS ?? 10_000);
const SAMPLES = Number(process.env.ADMIN_BENCH_SAMPLES ?? 40);
const USERS = 200;
const CLIENTS = 500;
const UPSTREAMS = ['notes', 'files', 'search', 'calendar', 'crm'];
const TOOLS = ['search', 'read', 'write', 'list', 'delete', 'summarize', 'fetch', 'echo'];
const SPAN_MS = 7 * 24 * 3_600_000;

/** The issue's targets. */
const TARGETS = { auditPageMs: 100, dashboardMs: 200, grantsListMs: 50, exportRssGrowthMiB: 20 };

/** A seeded generator (mulberry32): the same data on every run. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pick<T>(rnd: () => number, items: readonly T[]): T {
  return items[Math.floor(rnd() * items.length)];
}

/** [value, weight] pairs. */
function weighted<T>(rnd: () => number, choices: [T, number][]): T {
  const total = choices.reduce((n, [, w]) => n + w, 0);
  let r = rnd() * total;
  for (const [value, w] of choices) if ((r -= w) < 0) return value;
  return choices[choices.length - 1][0];
}

interface Population {
  userIds: string[];
  clientIds: string[];
  /** The at and id of the row in the middle of the log (a deep cursor). */
  middle: { at: number; id: number };
  populateS: number;
}

/** Fills the database the gateway created (its migrations ran): one transaction, prepared statements. */
async function populate(dbFile: string, now: number): Promise<Population> {
  const t0 = performance.now();
  const db = new Database(dbFile);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  const rnd = random(42);
  const userIds = Array.from({ length: USERS }, () => randomUUID());
  const clientIds = Array.from({ length: CLIENTS }, () => randomUUID());
  const rollups = new RollupWriter();

  // One transaction; the rollups go through a Tx that runs each statement at once on this connection.
  const tx = sqliteTx(db);
  db.exec('BEGIN');
  {
    const user = db.prepare("INSERT INTO users (id, email, password_hash, display_name, role, disabled, created_at) VALUES (?, ?, NULL, ?, 'member', 0, ?)");
    userIds.forEach((id, i) => user.run(id, `user${i}@bench.example`, `User ${i}`, now - SPAN_MS));
    const client = db.prepare(
      `INSERT INTO oauth_clients (client_id, client_name, redirect_uris, token_endpoint_auth_method, grant_types, response_types, extra_metadata, created_at)
       VALUES (?, ?, '["http://127.0.0.1:9/cb"]', 'none', '["authorization_code","refresh_token"]', '["code"]', '{}', ?)`,
    );
    clientIds.forEach((id, i) => client.run(id, `Client ${i}`, now - SPAN_MS));
    const grant = db.prepare('INSERT INTO grants (id, user_id, client_id, upstream_slug, scope, created_at, revoked_at, revoked_reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
    for (let i = 0; i < GRANTS; i++) {
      const revoked = rnd() < 0.2;
      const created = now - Math.floor(rnd() * SPAN_MS);
      grant.run(
        randomUUID(),
        pick(rnd, userIds),
        pick(rnd, clientIds),
        pick(rnd, UPSTREAMS),
        'mcp:read mcp:tools',
        created,
        revoked ? created + 1000 : null,
        revoked ? 'user' : null,
      );
    }

    const insert = db.prepare(
      'INSERT INTO audit_events (at, type, outcome, user_id, client_id, upstream_slug, mcp_method, tool, status, duration_ms, ip, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    // Proxied requests go through RollupWriter in batches, as AuditService's flush does.
    let batch: RollupInput[] = [];
    for (let i = 0; i < AUDIT_ROWS; i++) {
      const at = now - SPAN_MS + Math.floor((i * SPAN_MS) / AUDIT_ROWS);
      const userId = pick(rnd, userIds);
      const proxied = rnd() < 0.94;
      if (proxied) {
        const type = weighted(rnd, [
          ['mcp.request', 985],
          ['rate.limit', 5],
          ['policy.deny', 4],
          ['scope.deny', 3],
          ['request.malformed', 3],
        ]);
        const failed = type !== 'mcp.request' || rnd() < 0.03;
        const mcpMethod = weighted(rnd, [
          ['tools/call', 55],
          ['tools/list', 15],
          ['initialize', 8],
          ['notifications/initialized', 8],
          ['resources/read', 6],
          ['ping', 5],
          ['GET', 3],
        ]);
        const tool = mcpMethod === 'tools/call' ? pick(rnd, TOOLS) : null;
        const durationMs = Math.round(Math.exp(rnd() * 7));
        const row = { at, type, outcome: failed ? 'failure' : 'success', upstreamSlug: pick(rnd, UPSTREAMS), mcpMethod, tool, durationMs } as const;
        insert.run(
          at,
          type,
          row.outcome,
          userId,
          pick(rnd, clientIds),
          row.upstreamSlug,
          mcpMethod,
          tool,
          failed ? 502 : 200,
          durationMs,
          `10.0.${i % 250}.${(i >> 8) % 250}`,
          null,
        );
        batch.push(row);
      } else {
        const type = weighted(rnd, [
          ['token.refresh', 40],
          ['token.issue', 20],
          ['login', 20],
          ['consent', 10],
          ['grant.revoke', 5],
          ['admin.user.update', 5],
        ]);
        const failed = type === 'login' && rnd() < 0.25;
        insert.run(at, type, failed ? 'failure' : 'success', failed ? null : userId, null, null, null, null, null, null, '10.0.0.1', JSON.stringify({ grant_id: randomUUID() }));
        batch.push({ at, type, outcome: failed ? 'failure' : 'success' });
      }
      if (batch.length === 5000) {
        await rollups.countBatch(tx, batch);
        batch = [];
      }
    }
    await rollups.countBatch(tx, batch);
  }
  db.exec('COMMIT');
  db.pragma('wal_checkpoint(TRUNCATE)');
  const middle = db.prepare('SELECT at, id FROM audit_events ORDER BY at DESC, id DESC LIMIT 1 OFFSET ?').get(Math.floor(AUDIT_ROWS / 2)) as { at: number; id: number };
  db.close();
  return { userIds, clientIds, middle, populateS: (performance.now() - t0) / 1000 };
}

interface Gateway {
  child: Child;
  base: string;
}

/** The gateway from dist/, as `npm run start:prod` runs it, on the given data directory. */
async function startGateway(tmp: string, dataDir: string): Promise<Gateway> {
  const main = join(ROOT, 'dist', 'server', 'main.js');
  if (!existsSync(main)) throw new Error(`${main} not found: run "npm run build:server" first (npm run bench:admin does)`);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const configFile = join(tmp, 'gatehouse.yaml');
  // JSON is valid YAML. The upstreams are never called: their URL is a closed loopback port.
  writeFileSync(
    configFile,
    JSON.stringify({
      rate_limit: { oauth_per_minute: 100_000, login_per_minute: 100_000, mcp_per_minute: 0, admin_per_minute: 1_000_000 },
      upstreams: UPSTREAMS.map((slug) => ({ slug, name: `The ${slug} server`, url: `http://127.0.0.1:9/mcp/${slug}` })),
    }),
  );
  const child = spawnChild('gateway', ['--max-semi-space-size=4', main], {
    cwd: ROOT,
    logFile: join(tmp, 'gateway.log'),
    env: gatewayEnv({ configFile, dataDir, port, base }),
  });
  await waitForLine(child, /Gatehouse listening/, 120_000);
  for (let i = 0; ; i++) {
    const res = await fetch(`${base}/healthz`).catch(() => null);
    if (res?.status === 200) break;
    if (i > 100) throw new Error(`gateway /healthz never answered 200:\n${child.tail()}`);
    await sleep(50);
  }
  return { child, base };
}

interface Timing {
  name: string;
  path: string;
  status: number;
  p50Ms: number;
  p95Ms: number;
  maxMs: number;
  targetMs: number | null;
  rows?: number;
  note?: string;
}

/** Times SAMPLES sequential GETs (after 3 untimed ones), each read to the end. */
async function time(base: string, cookie: string, name: string, path: string, targetMs: number | null): Promise<Timing> {
  const once = async () => {
    const t = performance.now();
    const res = await fetch(`${base}/admin/api${path}`, { headers: { Cookie: cookie, Accept: 'application/json' } });
    const body = await res.text();
    return { ms: performance.now() - t, status: res.status, body };
  };
  let last = await once();
  for (let i = 0; i < 2; i++) last = await once();
  if (last.status !== 200) return { name, path, status: last.status, p50Ms: NaN, p95Ms: NaN, maxMs: NaN, targetMs, note: `HTTP ${last.status}` };
  const ms: number[] = [];
  for (let i = 0; i < SAMPLES; i++) ms.push((last = await once()).ms);
  ms.sort((a, b) => a - b);
  const parsed = JSON.parse(last.body) as { items?: unknown[] };
  return { name, path, status: 200, p50Ms: percentile(ms, 50), p95Ms: percentile(ms, 95), maxMs: ms[ms.length - 1], targetMs, rows: parsed.items?.length };
}

interface ExportResult {
  label: string;
  format: string;
  rows: number;
  mib: number;
  seconds: number;
  rowsPerS: number;
  rssBeforeMiB: number;
  rssPeakMiB: number;
  rssGrowthMiB: number;
  hwmGrowthMiB: number | null;
  samples: number;
}

/** Downloads the whole export, counting lines as they arrive (nothing kept), while sampling the gateway's RSS. */
async function exportRows(gw: Gateway, cookie: string, label: string, format: 'csv' | 'jsonl', filter = ''): Promise<ExportResult> {
  await sleep(1000);
  const before = procMem(gw.child.pid).rssKiB;
  const hwmReset = resetPeakRss(gw.child.pid);
  const sampler = new RssSampler([gw.child.pid]);
  sampler.start();
  await sleep(200); // the sampler's worker thread is up
  const t = performance.now();
  let bytes = 0;
  let lines = 0;
  await new Promise<void>((resolve, reject) => {
    http
      .get(`${gw.base}/admin/api/audit/export?format=${format}${filter}`, { headers: { Cookie: cookie } }, (res) => {
        if (res.statusCode !== 200) reject(new Error(`export: HTTP ${res.statusCode}`));
        res.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines++;
        });
        res.on('end', resolve);
        res.on('error', reject);
      })
      .on('error', reject);
  });
  const seconds = (performance.now() - t) / 1000;
  const { peaksKiB, samples } = sampler.stop();
  await sampler.close();
  const after = procMem(gw.child.pid);
  const rows = format === 'csv' ? lines - 1 : lines;
  const peak = Math.max(peaksKiB[gw.child.pid], after.rssKiB);
  return {
    label,
    format,
    rows,
    mib: bytes / 1048576,
    seconds,
    rowsPerS: rows / seconds,
    rssBeforeMiB: before / 1024,
    rssPeakMiB: peak / 1024,
    rssGrowthMiB: (peak - before) / 1024,
    hwmGrowthMiB: hwmReset ? (after.hwmKiB - before) / 1024 : null,
    samples,
  };
}

function table(timings: Timing[], exports: ExportResult[]): string {
  const fmt = (v: number) => (Number.isFinite(v) ? v.toFixed(1) : '-');
  const verdict = (ok: boolean | null) => (ok === null ? '' : ok ? '[ met ]' : '[ NOT ]');
  const rows = timings.map((t) => [
    t.name,
    fmt(t.p50Ms),
    fmt(t.p95Ms),
    fmt(t.maxMs),
    t.rows === undefined ? '' : String(t.rows),
    t.targetMs === null ? '' : `<= ${t.targetMs}`,
    t.note ?? verdict(t.targetMs === null ? null : t.p95Ms <= t.targetMs),
  ]);
  const header = ['request (sequential, over HTTP)', 'p50 ms', 'p95 ms', 'max ms', 'rows', 'target', ''];
  const out = [...formatColumns(header, rows, [0, 6]), ''];
  for (const e of exports) {
    const all = e.rows >= AUDIT_ROWS;
    out.push(
      `export: ${e.label}: ${e.rows} rows, ${e.mib.toFixed(0)} MiB in ${e.seconds.toFixed(1)} s (${Math.round(e.rowsPerS)} rows/s); ` +
        `gateway RSS ${e.rssBeforeMiB.toFixed(1)} → peak ${e.rssPeakMiB.toFixed(1)} MiB: growth ${e.rssGrowthMiB.toFixed(1)} MiB` +
        `${e.hwmGrowthMiB === null ? '' : ` (VmHWM ${e.hwmGrowthMiB.toFixed(1)})`}, ${e.samples} samples` +
        (all ? `  ${verdict(e.rssGrowthMiB <= TARGETS.exportRssGrowthMiB)} target growth <= ${TARGETS.exportRssGrowthMiB} MiB` : ''),
    );
  }
  out.push(
    '',
    'The first export in a fresh process grows RSS once, whatever its size: V8 grows its young generation to',
    'the --max-semi-space-size and lets the old one fill to its collection threshold. The target is checked',
    'on the exports of every row after it, where growth would show rows being held.',
  );
  return out.join('\n') + '\n';
}

async function main(): Promise<void> {
  startClock();
  mkdirSync(RESULTS_DIR, { recursive: true });
  const tmp = mkdtempSync(join(tmpdir(), 'gatehouse-admin-bench-'));
  const dataDir = join(tmp, 'data');
  try {
    log('first start: the gateway creates the database (migrations) and the admin account');
    await stopChild((await startGateway(tmp, dataDir)).child);
    const now = Date.now();
    log(`populating: ${AUDIT_ROWS} audit rows over 7 days with their rollups, ${GRANTS} grants, ${CLIENTS} clients, ${USERS} users`);
    const pop = await populate(join(dataDir, DATABASE_FILE), now);
    log(`populated in ${pop.populateS.toFixed(1)} s; starting the gateway on it`);
    const gw = await startGateway(tmp, dataDir);
    const session = await signInToConsole(gw.base, ADMIN);
    const cookie = session.cookie;

    const user = pop.userIds[17];
    const client = pop.clientIds[123];
    const threeDaysAgo = now - 3 * 24 * 3_600_000;
    const first = (await (await fetch(`${gw.base}/admin/api/audit?limit=50`, { headers: { Cookie: cookie } })).json()) as { nextCursor: string };
    const A = TARGETS.auditPageMs;
    const cases: [string, string, number | null][] = [
      ['audit: no filter', '/audit', A],
      ['audit: userId', `/audit?userId=${user}`, A],
      ['audit: clientId', `/audit?clientId=${client}`, A],
      ['audit: upstream', '/audit?upstream=files', A],
      ['audit: type (common, mcp.request)', '/audit?type=mcp.request', A],
      ['audit: type (rare, grant.revoke)', '/audit?type=grant.revoke', A],
      ['audit: outcome=failure', '/audit?outcome=failure', A],
      ['audit: mcpMethod', '/audit?mcpMethod=resources/read', A],
      ['audit: tool', '/audit?tool=summarize', A],
      ['audit: time range (1 h, 3 days ago)', `/audit?from=${threeDaysAgo}&to=${threeDaysAgo + 3_600_000}`, A],
      ['audit: no match (unknown user)', '/audit?userId=nobody', A],
      ['audit: page 2 (cursor)', `/audit?cursor=${first.nextCursor}`, A],
      ['audit: deep page (cursor at 500,000th row)', `/audit?cursor=${encodeCursor([pop.middle.at, pop.middle.id])}`, A],
      ['audit: userId, 200 rows a page', `/audit?userId=${user}&limit=200`, A],
      ['audit: type + userId + 1 day (3 filters)', `/audit?type=mcp.request&userId=${user}&from=${threeDaysAgo}&to=${threeDaysAgo + 86_400_000}`, null],
      ['audit: event types', '/audit/event-types', null],
      ['dashboard: 24h', '/dashboard?range=24h', TARGETS.dashboardMs],
      ['dashboard: 7d', '/dashboard?range=7d', TARGETS.dashboardMs],
      ['grants: list', '/grants', TARGETS.grantsListMs],
      ['grants: active, one user', `/grants?active=true&userId=${user}`, TARGETS.grantsListMs],
    ];
    const timings: Timing[] = [];
    for (const [name, path, target] of cases) {
      const t = await time(gw.base, cookie, name, path, target);
      if (t.status === 404 && path.startsWith('/grants')) t.note = 'skipped: no /admin/api/grants route in this build';
      timings.push(t);
      log(`${name}: p50 ${t.p50Ms.toFixed(1)} ms, p95 ${t.p95Ms.toFixed(1)} ms${t.note ? ` (${t.note})` : ''}`);
    }
    const exports: ExportResult[] = [];
    log('exporting the last 24 hours (the first export of the process)');
    exports.push(await exportRows(gw, cookie, 'last 24 h as jsonl, first export of the process', 'jsonl', `&from=${now - 24 * 3_600_000}`));
    for (const format of ['csv', 'jsonl'] as const) {
      log(`exporting all rows as ${format}`);
      exports.push(await exportRows(gw, cookie, `all rows as ${format}`, format));
    }
    await stopChild(gw.child);

    const text = table(timings, exports);
    process.stdout.write('\n' + text);
    const json = {
      at: new Date(now).toISOString(),
      sizes: { auditRows: AUDIT_ROWS, grants: GRANTS, clients: CLIENTS, users: USERS, upstreams: UPSTREAMS.length, tools: TOOLS.length, days: 7, samplesPerCase: SAMPLES },
      populateS: round(pop.populateS, 1),
      targets: TARGETS,
      requests: timings.map((t) => ({ ...t, p50Ms: round(t.p50Ms, 2), p95Ms: round(t.p95Ms, 2), maxMs: round(t.maxMs, 2) })),
      exports: exports.map((e) => Object.fromEntries(Object.entries(e).map(([k, v]) => [k, typeof v === 'number' ? round(v, 2) : v]))),
    };
    writeFileSync(join(RESULTS_DIR, 'admin-scale.json'), JSON.stringify(json, null, 2) + '\n');
  } finally {
    await stopAll();
    if (process.env.ADMIN_BENCH_KEEP === '1') log(`kept the data directory: ${dataDir}`);
    else rmSync(tmp, { recursive: true, force: true });
  }
}

runMain('bench:admin', main);

/** The part of a Tx the rollup writer uses, on a bare better-sqlite3 connection (statements prepared once). */
function sqliteTx(db: Database.Database): Tx {
  const statements = new Map<string, Database.Statement>();
  const execute = (sql: string, params: unknown[]) => {
    let statement = statements.get(sql);
    if (!statement) statements.set(sql, (statement = db.prepare(sql)));
    return Promise.resolve(statement.run(...params).changes);
  };
  return { engine: 'sqlite', execute } as unknown as Tx;
}
