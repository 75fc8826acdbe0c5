/**
 * The measurements of `npm run bench:data`, each run against every gateway in alternating rounds
 * (the order rotates per round), so drift on a shared machine hits the small and the full one alike.
 */
import { authorizeInBrowser } from '../../test/helpers/oauth-client';
import { TestBrowser } from '../../test/helpers/browser';
import { signInToConsole } from '../../test/helpers/admin-api';
import { authorizeUrl, pkce, registerPublicClient, tokenRequest } from '../../test/helpers/raw-oauth';
import { ADMIN } from '../config';
import { cannon, closeSession, openSession, Target } from '../lib/mcp-http';
import type { Child } from '../lib/processes';
import { check, log } from '../lib/run-log';
import { percentile, summarize } from '../lib/stats';
import { runOAuthFlow } from '../phases/oauth-flow';
import type { SeedResult } from './seed';

export interface Gateway {
  name: string;
  child: Child;
  base: string;
  mcpUrl: string;
  startMs: number;
}

export interface Row {
  name: string;
  unit: string;
  small: number;
  full: number;
  higherIsBetter?: boolean;
  digits?: number;
}

export interface Measured {
  rows: Row[];
}

/** Rounds of tools/call (each gateway in turn); sequential requests also alternate one by one. */
const ROUNDS = Number(process.env.DATA_BENCH_ROUNDS ?? 8);
const LATENCY_CALLS = 150;
const THROUGHPUT_S = 2;
const SAMPLES = Number(process.env.DATA_BENCH_SAMPLES ?? 40);
const REDIRECT_URI = 'http://127.0.0.1:9/callback';

interface Session {
  gw: Gateway;
  token: string;
  target: Target;
  cookie: string;
  client: { client_id: string };
  browser: TestBrowser;
  refreshToken: string;
}

const rotated = <T>(xs: T[], r: number): T[] => xs.map((_, i) => xs[(i + r) % xs.length]);

async function prepare(gw: Gateway): Promise<Session> {
  const { token } = await runOAuthFlow(gw.mcpUrl);
  const target: Target = { key: 'gateway', label: gw.name, url: gw.mcpUrl };
  const console = await signInToConsole(gw.base, ADMIN);
  const client = await registerPublicClient(gw.base, REDIRECT_URI);
  const browser = console.browser;
  // The first code: consent is given (and remembered), so later codes need no page.
  const { code, verifier } = await newCode(gw, browser, client.client_id);
  const res = await tokenRequest(gw.base, {
    grant_type: 'authorization_code',
    code,
    code_verifier: verifier,
    redirect_uri: REDIRECT_URI,
    client_id: client.client_id,
    resource: gw.mcpUrl,
  });
  if (res.status !== 200) throw new Error(`${gw.name}: code exchange ${res.status} ${res.text}`);
  return { gw, token, target, cookie: console.cookie, client, browser, refreshToken: (res.json as { refresh_token: string }).refresh_token };
}

async function newCode(gw: Gateway, browser: TestBrowser, clientId: string): Promise<{ code: string; verifier: string }> {
  const { verifier, challenge } = pkce();
  const url = authorizeUrl(gw.base, {
    response_type: 'code',
    client_id: clientId,
    redirect_uri: REDIRECT_URI,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state: 's',
    resource: gw.mcpUrl,
  });
  const result = await authorizeInBrowser(browser, url, ADMIN, { redirectUri: REDIRECT_URI });
  return { code: result.code, verifier };
}

async function timed(fn: () => Promise<number>): Promise<number> {
  const t = performance.now();
  const status = await fn();
  const ms = performance.now() - t;
  if (status !== 200 && status !== 303) throw new Error(`unexpected HTTP ${status}`);
  return ms;
}

/**
 * A named sequential request: `once` does the untimed setup, returns the timed request. With
 * `firstRead` the first request's time is a row too (the dashboard sums every hour of its window
 * then, and afterwards once per hour of the clock).
 */
type Case = { name: string; once: (s: Session) => Promise<() => Promise<number>>; firstRead?: boolean };

function consoleCase(name: string, path: (seed: SeedResult) => string, seedOf: Map<Session, SeedResult>): Case {
  return {
    name: `console: ${name}`,
    once: async (s) => async () => {
      const res = await fetch(`${s.gw.base}/admin/api${path(seedOf.get(s)!)}`, { headers: { Cookie: s.cookie, Accept: 'application/json' } });
      await res.arrayBuffer();
      return res.status;
    },
  };
}

/** gateways and seeds: [small, full]. */
export async function measureAll(gateways: Gateway[], seeds: SeedResult[]): Promise<Measured> {
  log('OAuth flow, console sign-in and a registered client on each gateway');
  const sessions: Session[] = [];
  for (const gw of gateways) sessions.push(await prepare(gw));
  const [smallS, fullS] = sessions;
  const seedOf = new Map(sessions.map((s, i) => [s, seeds[i]]));
  const rows: Row[] = [];
  const pair = (name: string, unit: string, f: (s: Session) => number, extra: Partial<Row> = {}) => rows.push({ name, unit, small: f(smallS), full: f(fullS), ...extra });

  // Proxied tools/call: latency with 1 client, throughput with 16.
  log(`tools/call: ${ROUNDS} rounds x ${LATENCY_CALLS} calls (1 client) and ${THROUGHPUT_S} s at 16 clients, per gateway`);
  const lat = new Map<Session, number[]>(sessions.map((s) => [s, []]));
  const thr = new Map<Session, { calls: number; s: number }>(sessions.map((s) => [s, { calls: 0, s: 0 }]));
  for (const s of sessions) await openSession(s.target, s.token);
  for (const s of sessions) check(`warm-up ${s.gw.name}`, await cannon(s.target, s.token, { connections: 8, amount: 1000, verify: true }));
  for (let r = 0; r < ROUNDS; r++) {
    for (const s of rotated(sessions, r)) {
      const res = await cannon(s.target, s.token, { connections: 1, amount: LATENCY_CALLS + 1, verify: true, keepLatencies: true });
      check(`latency ${s.gw.name} round ${r + 1}`, res);
      lat.get(s)!.push(...res.latencies.slice(1));
      const load = await cannon(s.target, s.token, { connections: 16, durationS: THROUGHPUT_S });
      check(`throughput ${s.gw.name} round ${r + 1}`, load);
      thr.get(s)!.calls += load.requests;
      thr.get(s)!.s += load.durationS;
    }
  }
  for (const s of sessions) await closeSession(s.target, s.token);
  const latency = new Map([...lat].map(([s, v]) => [s, summarize(v)]));
  pair('tools/call p50 (1 client)', 'ms', (s) => latency.get(s)!.p50, { digits: 3 });
  pair('tools/call p99 (1 client)', 'ms', (s) => latency.get(s)!.p99, { digits: 3 });
  pair('tools/call throughput (16 clients)', 'calls/s', (s) => thr.get(s)!.calls / thr.get(s)!.s, { higherIsBetter: true, digits: 0 });

  const cases: Case[] = [
    {
      name: 'sign-in (POST /login)',
      once: async (s) => {
        const browser = new TestBrowser();
        const page = await browser.get(`${s.gw.base}/login`);
        return async () => (await browser.submit(page, ADMIN)).status;
      },
    },
    {
      name: 'token: authorization_code',
      once: async (s) => {
        const { code, verifier } = await newCode(s.gw, s.browser, s.client.client_id);
        return async () =>
          (
            await tokenRequest(s.gw.base, {
              grant_type: 'authorization_code',
              code,
              code_verifier: verifier,
              redirect_uri: REDIRECT_URI,
              client_id: s.client.client_id,
              resource: s.gw.mcpUrl,
            })
          ).status;
      },
    },
    {
      name: 'token: refresh_token',
      once: async (s) => async () => {
        const res = await tokenRequest(s.gw.base, { grant_type: 'refresh_token', refresh_token: s.refreshToken, client_id: s.client.client_id });
        if (res.status === 200) s.refreshToken = (res.json as { refresh_token: string }).refresh_token;
        return res.status;
      },
    },
    consoleCase('users, first page', () => '/users', seedOf),
    consoleCase('users, search', () => '/users?q=user17', seedOf),
    // The same one user in both databases (the search above finds 1 user in the small one and a page of 50 in the full one).
    consoleCase('users, search, one match', () => '/users?q=user17%40', seedOf),
    consoleCase('clients, first page', () => '/clients', seedOf),
    consoleCase('grants, first page', () => '/grants', seedOf),
    consoleCase('grants of a user', (x) => `/grants?userId=${x.userId}`, seedOf),
    consoleCase('audit, first page', () => '/audit', seedOf),
    consoleCase('audit of a user', (x) => `/audit?userId=${x.userId}`, seedOf),
    consoleCase('audit of a client', (x) => `/audit?clientId=${x.clientId}`, seedOf),
    consoleCase('audit: tool + upstream', () => '/audit?tool=echo&upstream=bench', seedOf),
    consoleCase('audit: failures', () => '/audit?outcome=failure', seedOf),
    { ...consoleCase('dashboard 24h', () => '/dashboard?range=24h', seedOf), firstRead: true },
    { ...consoleCase('dashboard 7d', () => '/dashboard?range=7d', seedOf), firstRead: true },
  ];
  for (const c of cases) {
    log(`${c.name}: ${SAMPLES} sequential requests per gateway, alternating`);
    const ms = new Map<Session, number[]>(sessions.map((s) => [s, []]));
    const first = new Map<Session, number>();
    for (const s of sessions) first.set(s, await timed(await c.once(s))); // warm
    if (c.firstRead) pair(`${c.name}, first read`, 'ms', (s) => first.get(s)!);
    // One request each in turn: load from the rest of the machine comes and goes within seconds.
    for (let i = 0; i < SAMPLES; i++) {
      for (const s of rotated(sessions, i)) ms.get(s)!.push(await timed(await c.once(s)));
    }
    const p50 = (s: Session) =>
      percentile(
        [...ms.get(s)!].sort((a, b) => a - b),
        50,
      );
    pair(`${c.name} p50`, 'ms', p50);
  }
  return { rows };
}
