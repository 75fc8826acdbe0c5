/**
 * The bundle (`/mcp`) against its upstreams called directly: three upstreams of 50 tools each
 * (real MCP SDK servers, session mode, `headers` auth), one gateway, the real SDK client on both
 * paths, everything on loopback in this process. Rounds alternate the two paths so drift on the
 * machine affects both alike.
 *
 * - tools/call: `t0` of the first upstream, 1 client, sequential calls; "added" is the bundle's
 *   median minus the direct median.
 * - tools/list: the bundle's union (3 × 50 tools, the lists cached on the gateway's upstream
 *   clients, as in steady use) against one upstream's 50 listed directly; "added" is the bundle's
 *   median minus that (the bundle lists its members in parallel). The first listing of a session
 *   (the upstream clients connecting and listing) is shown apart, as "cold".
 */
import { createServer, Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { ADMIN, startTestGateway } from '../../test/helpers/gateway';
import { connectWithOAuth } from '../../test/helpers/oauth-client';
import { summarize, Summary } from '../lib/stats';

export const BUNDLE_UPSTREAMS = 3;
/** Issue 12's targets: what the bundle may add to a tools/call (median, and gateway CPU), and to a tools/list of 3 x 50 tools. */
export const CALL_TARGET_MS = 1;
export const LIST_TARGET_MS = 5;
export const TOOLS_PER_UPSTREAM = 50;
const KEY = 'bench-bundle-key';

export interface BundleFigures {
  callDirect: Summary;
  callBundle: Summary;
  listDirect: Summary;
  listBundle: Summary;
  /** The first tools/list of a new bundle session whose upstream clients are not connected yet. */
  listBundleColdMs: number;
  callAddedP50Ms: number;
  listAddedP50Ms: number;
  /**
   * CPU time of this process per call (client, gateway and upstreams are all in it), direct and
   * through the bundle: the difference is the gateway's work per call, which is what the bundle
   * adds to the latency on an idle machine. Unlike wall-clock times it hardly moves when other
   * processes load the machine.
   */
  callCpuDirectMs: number;
  callCpuBundleMs: number;
  listCpuDirectMs: number;
  listCpuBundleMs: number;
}

export interface BundleOptions {
  rounds?: number;
  callsPerRound?: number;
  listsPerRound?: number;
}

export async function measureBundle(opts: BundleOptions = {}): Promise<BundleFigures> {
  const rounds = opts.rounds ?? 4;
  const callsPerRound = opts.callsPerRound ?? 250;
  const listsPerRound = opts.listsPerRound ?? 50;
  const upstreams = await Promise.all(Array.from({ length: BUNDLE_UPSTREAMS }, () => startManyToolsUpstream(TOOLS_PER_UPSTREAM)));
  process.env.BENCH_BUNDLE_KEY = KEY;
  const gw = await startTestGateway({
    config: {
      logging: { level: 'error' },
      upstreams: upstreams.map((u, i) => ({ slug: `u${i}`, url: u.url, auth: { mode: 'headers', headers: { 'X-API-Key': '${BENCH_BUNDLE_KEY}' } } })),
    },
  });
  const clients: Client[] = [];
  try {
    const { client: bundle } = await connectWithOAuth(`${gw.config.publicUrl}/mcp`, ADMIN);
    clients.push(bundle);
    const direct = new Client({ name: 'bench-direct', version: '0' });
    await direct.connect(new StreamableHTTPClientTransport(new URL(upstreams[0].url), { requestInit: { headers: { 'x-api-key': KEY } } }));
    clients.push(direct);

    let t = performance.now();
    const cold = await bundle.listTools();
    const listBundleColdMs = performance.now() - t;
    if (cold.tools.length !== BUNDLE_UPSTREAMS * TOOLS_PER_UPSTREAM) throw new Error(`the bundle listed ${cold.tools.length} tools`);

    const times = { callDirect: [] as number[], callBundle: [] as number[], listDirect: [] as number[], listBundle: [] as number[] };
    const cpu = { callDirect: 0, callBundle: 0, listDirect: 0, listBundle: 0 };
    const cpuMs = (since: NodeJS.CpuUsage) => {
      const used = process.cpuUsage(since);
      return (used.user + used.system) / 1000;
    };
    const call = (c: Client, name: string) => c.callTool({ name, arguments: { text: 'hi' } });
    // Warm-up: connections, JIT.
    for (let i = 0; i < 50; i++) {
      await call(direct, 't0');
      await call(bundle, 'u0__t0');
    }
    for (let r = 0; r < rounds; r++) {
      const order: Array<'direct' | 'bundle'> = r % 2 ? ['bundle', 'direct'] : ['direct', 'bundle'];
      for (const which of order) {
        const [client, name, into] = which === 'direct' ? [direct, 't0', times.callDirect] : [bundle, 'u0__t0', times.callBundle];
        let since = process.cpuUsage();
        for (let i = 0; i < callsPerRound; i++) {
          t = performance.now();
          await call(client, name);
          into.push(performance.now() - t);
        }
        cpu[which === 'direct' ? 'callDirect' : 'callBundle'] += cpuMs(since);
        const listInto = which === 'direct' ? times.listDirect : times.listBundle;
        since = process.cpuUsage();
        for (let i = 0; i < listsPerRound; i++) {
          t = performance.now();
          await (which === 'direct' ? direct : bundle).listTools();
          listInto.push(performance.now() - t);
        }
        cpu[which === 'direct' ? 'listDirect' : 'listBundle'] += cpuMs(since);
      }
    }
    const callDirect = summarize(times.callDirect);
    const callBundle = summarize(times.callBundle);
    const listDirect = summarize(times.listDirect);
    const listBundle = summarize(times.listBundle);
    return {
      callDirect,
      callBundle,
      listDirect,
      listBundle,
      listBundleColdMs,
      callAddedP50Ms: callBundle.p50 - callDirect.p50,
      listAddedP50Ms: listBundle.p50 - listDirect.p50,
      callCpuDirectMs: cpu.callDirect / (rounds * callsPerRound),
      callCpuBundleMs: cpu.callBundle / (rounds * callsPerRound),
      listCpuDirectMs: cpu.listDirect / (rounds * listsPerRound),
      listCpuBundleMs: cpu.listBundle / (rounds * listsPerRound),
    };
  } finally {
    for (const c of clients) await c.close().catch(() => undefined);
    await gw.close();
    gw.cleanup();
    await Promise.all(upstreams.map((u) => u.close()));
  }
}

/** The figures as a table with the targets (bench/bundle.ts prints it alone, bench/run.ts after its own). */
export function bundleReport(f: BundleFigures): string {
  const ms = (n: number) => n.toFixed(3).padStart(9);
  const mark = (ok: boolean) => (ok ? ' met ' : ' NOT ');
  const callCpuAdded = f.callCpuBundleMs - f.callCpuDirectMs;
  const lines = [
    `metric                                         direct     bundle      added`,
    `tools/call latency p50 (ms)                 ${ms(f.callDirect.p50)}  ${ms(f.callBundle.p50)}  ${ms(f.callAddedP50Ms)}`,
    `tools/call latency p90 (ms)                 ${ms(f.callDirect.p90)}  ${ms(f.callBundle.p90)}  ${ms(f.callBundle.p90 - f.callDirect.p90)}`,
    `tools/call latency p99 (ms)                 ${ms(f.callDirect.p99)}  ${ms(f.callBundle.p99)}  ${ms(f.callBundle.p99 - f.callDirect.p99)}`,
    `tools/list p50 (ms), ${TOOLS_PER_UPSTREAM} direct / ${BUNDLE_UPSTREAMS}x${TOOLS_PER_UPSTREAM} bundled ${ms(f.listDirect.p50)}  ${ms(f.listBundle.p50)}  ${ms(f.listAddedP50Ms)}`,
    `tools/list p99 (ms)                         ${ms(f.listDirect.p99)}  ${ms(f.listBundle.p99)}  ${ms(f.listBundle.p99 - f.listDirect.p99)}`,
    `tools/list, first of a session (cold, ms)           -  ${ms(f.listBundleColdMs)}          -`,
    `CPU per tools/call, whole process (ms)      ${ms(f.callCpuDirectMs)}  ${ms(f.callCpuBundleMs)}  ${ms(callCpuAdded)}`,
    `CPU per tools/list, whole process (ms)      ${ms(f.listCpuDirectMs)}  ${ms(f.listCpuBundleMs)}  ${ms(f.listCpuBundleMs - f.listCpuDirectMs)}`,
    '',
    'Targets',
    `  [${mark(f.callAddedP50Ms <= CALL_TARGET_MS)}] tools/call median added by the bundle   ${f.callAddedP50Ms.toFixed(3)} ms  (target <= ${CALL_TARGET_MS} ms)`,
    `  [${mark(callCpuAdded <= CALL_TARGET_MS)}] tools/call gateway CPU per call (the added latency when idle)   ${callCpuAdded.toFixed(3)} ms  (target <= ${CALL_TARGET_MS} ms)`,
    `  [${mark(f.listAddedP50Ms <= LIST_TARGET_MS)}] tools/list (${BUNDLE_UPSTREAMS} x ${TOOLS_PER_UPSTREAM} tools) median added   ${f.listAddedP50Ms.toFixed(3)} ms  (target <= ${LIST_TARGET_MS} ms)`,
  ];
  return `${lines.join('\n')}\n`;
}

/** An MCP server (session mode) with `count` tools t0…t(n-1), each echoing its `text`, behind an X-API-Key check. */
async function startManyToolsUpstream(count: number): Promise<{ url: string; close(): Promise<void> }> {
  const sessions = new Map<string, StreamableHTTPServerTransport>();
  const servers = new Set<McpServer>();
  const http: HttpServer = createServer((req, res) => {
    if (req.headers['x-api-key'] !== KEY) return void res.writeHead(401).end();
    const sid = req.headers['mcp-session-id'];
    const existing = typeof sid === 'string' ? sessions.get(sid) : undefined;
    if (existing) return void existing.handleRequest(req, res);
    if (sid) return void res.writeHead(404).end();
    const server = new McpServer({ name: 'bench-many-tools', version: '1' });
    for (let i = 0; i < count; i++) {
      server.registerTool(`t${i}`, { description: `Tool number ${i}: echoes its text`, inputSchema: { text: z.string() } }, ({ text }) => ({ content: [{ type: 'text', text }] }));
    }
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: randomUUID, onsessioninitialized: (id) => void sessions.set(id, transport) });
    servers.add(server);
    void server.connect(transport).then(() => transport.handleRequest(req, res));
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    close: async () => {
      await Promise.all([...servers].map((s) => s.close().catch(() => undefined)));
      await new Promise<void>((resolve) => {
        http.close(() => resolve());
        http.closeAllConnections();
      });
    },
  };
}
