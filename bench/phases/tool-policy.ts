/**
 * Tool policy cost (issue 12): the same upstream (200 tools) mounted twice on one gateway, once
 * without rules (the zero-parse path) and once with rules, so the difference of the medians is
 * what the policy adds: to a tools/list of 200 tools (read, filtered, re-serialised) and to a
 * tools/call (body read and decided). Rounds are interleaved so drift hits both alike.
 *
 * Runs in this process (gateway from server/src, a minimal JSON-RPC upstream answering from
 * memory, so the upstream's own cost is small and equal for both): absolute times include the
 * client's work in the same event loop; the added figures are differences.
 */
import http from 'node:http';
import { AddressInfo } from 'node:net';
import { TestBrowser } from '../../test/helpers/browser';
import { ADMIN, startTestGateway, TestGateway } from '../../test/helpers/gateway';
import { obtainCode, pkce, registerPublicClient, tokenRequest } from '../../test/helpers/raw-oauth';
import { log } from '../lib/run-log';
import { median, round } from '../lib/stats';

const TOOLS = 200;
const ROUNDS = 5;
const PER_ROUND = 200;
const CALLBACK = 'http://127.0.0.1:45690/callback';
const RULES = [
  { effect: 'deny', tools: ['delete_*'], groups: ['contractors'] },
  { effect: 'allow', tools: ['search_web'], groups: ['researchers'] },
  { effect: 'deny', tools: ['search_web', 'admin_*'] },
];

export interface ToolPolicyFigures {
  tools: number;
  calls: number;
  listP50Ms: { plain: number; ruled: number; addedMs: number };
  callP50Ms: { plain: number; ruled: number; addedMs: number };
}

/** 200 tools with schemas and descriptions of a realistic size. */
function toolList(): unknown[] {
  return Array.from({ length: TOOLS }, (_, i) => ({
    name: i % 10 === 0 ? `delete_${i}` : `search_${i}`,
    description: `Tool number ${i}: searches the documents of the workspace for the given query and returns the best matches with their titles.`,
    inputSchema: {
      type: 'object',
      properties: { query: { type: 'string', description: 'what to look for' }, limit: { type: 'integer', minimum: 1, maximum: 100 } },
      required: ['query'],
    },
    annotations: { readOnlyHint: i % 10 !== 0 },
  }));
}

async function startUpstream(): Promise<{ url: string; close(): Promise<void> }> {
  const listResult = JSON.stringify({ tools: toolList() });
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const msg = JSON.parse(Buffer.concat(chunks).toString() || '{}') as { id?: unknown; method?: string };
      const result = msg.method === 'tools/list' ? listResult : JSON.stringify({ content: [{ type: 'text', text: 'ok' }] });
      const body = `{"jsonrpc":"2.0","id":${JSON.stringify(msg.id ?? null)},"result":${result}}`;
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

async function tokenFor(gw: TestGateway, slug: string): Promise<string> {
  const base = gw.config.publicUrl;
  const reg = await registerPublicClient(base, CALLBACK);
  const { verifier, challenge } = pkce();
  const resource = gw.mcpUrl(slug);
  const code = await obtainCode(base, new TestBrowser(), ADMIN, { clientId: reg.client_id, redirectUri: CALLBACK, challenge, resource });
  const res = await tokenRequest(base, { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: CALLBACK, client_id: reg.client_id, resource });
  return (res.json as { access_token: string }).access_token;
}

/** One POST, timed from the request to the last byte of the response. */
function timedPost(agent: http.Agent, url: string, token: string, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t = performance.now();
    const req = http.request(
      url,
      {
        method: 'POST',
        agent,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? resolve(performance.now() - t) : reject(new Error(`HTTP ${res.statusCode}`))));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

export async function measureToolPolicy(): Promise<ToolPolicyFigures> {
  log(`tool policy: tools/list of ${TOOLS} tools and tools/call, without and with rules, ${ROUNDS} x ${PER_ROUND} each`);
  const upstream = await startUpstream();
  const gw = await startTestGateway({
    config: {
      upstreams: [
        { slug: 'plain', url: upstream.url },
        { slug: 'ruled', url: upstream.url, tools: { rules: RULES } },
      ],
    },
  });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const tokens = { plain: await tokenFor(gw, 'plain'), ruled: await tokenFor(gw, 'ruled') };
    const list = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' });
    const call = JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'search_1', arguments: { query: 'x' } } });
    const times = { list: { plain: [] as number[], ruled: [] as number[] }, call: { plain: [] as number[], ruled: [] as number[] } };
    for (let round = -1; round < ROUNDS; round++) {
      for (const kind of ['list', 'call'] as const) {
        for (const slug of round % 2 ? (['plain', 'ruled'] as const) : (['ruled', 'plain'] as const)) {
          for (let i = 0; i < PER_ROUND; i++) {
            const ms = await timedPost(agent, gw.mcpUrl(slug), tokens[slug], kind === 'list' ? list : call);
            if (round >= 0) times[kind][slug].push(ms); // round -1 warms up
          }
        }
      }
    }
    const figures = (kind: 'list' | 'call') => {
      const plain = median(times[kind].plain);
      const ruled = median(times[kind].ruled);
      return { plain: round(plain), ruled: round(ruled), addedMs: round(ruled - plain) };
    };
    return { tools: TOOLS, calls: ROUNDS * PER_ROUND, listP50Ms: figures('list'), callP50Ms: figures('call') };
  } finally {
    agent.destroy();
    await gw.close();
    gw.cleanup();
    await upstream.close();
  }
}

/** The lines the report prints, with the issue's targets. */
export function toolPolicyReport(f: ToolPolicyFigures): string {
  const line = (label: string, x: { plain: number; ruled: number; addedMs: number }, target: number) =>
    `  ${label.padEnd(34)} p50 ${x.plain.toFixed(3)} ms without rules, ${x.ruled.toFixed(3)} ms with: +${x.addedMs.toFixed(3)} ms (target ≤ ${target} ms) ${x.addedMs <= target ? 'ok' : 'OVER'}\n`;
  return `\nTool policy (${f.calls} requests per kind and upstream, in-process gateway)\n${line(`tools/list of ${f.tools} tools`, f.listP50Ms, 1)}${line('tools/call', f.callP50Ms, 0.3)}`;
}
