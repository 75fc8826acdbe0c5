/**
 * The benchmark's MCP workload over HTTP: stateless `tools/call` POSTs (Streamable HTTP,
 * answered as a text/event-stream), driven either by autocannon (latency, throughput) or
 * by node:http on a keep-alive agent where per-event timing is needed (SSE, 1 MiB).
 */
import http from 'node:http';
import autocannon from 'autocannon';

export interface Target {
  /** direct | bare | gateway */
  key: TargetKey;
  label: string;
  /** The MCP endpoint. */
  url: string;
  /** Mcp-Session-Id of the session the current phase uses (see openSession). */
  sessionId?: string;
}
export type TargetKey = 'direct' | 'bare' | 'gateway';

export const PROTOCOL_VERSION = '2025-06-18';

export function mcpHeaders(target: Target, token: string): Record<string, string> {
  const h: Record<string, string> = {
    accept: 'application/json, text/event-stream',
    'content-type': 'application/json',
    'mcp-protocol-version': PROTOCOL_VERSION,
    // Sent to all three targets so the requests are byte-identical; only the gateway checks it.
    authorization: `Bearer ${token}`,
  };
  if (target.sessionId) h['mcp-session-id'] = target.sessionId;
  return h;
}

/**
 * MCP lifecycle through the target: initialize (answered as SSE) + notifications/initialized.
 * Sets and returns target.sessionId.
 */
export async function openSession(target: Target, token: string): Promise<string> {
  target.sessionId = undefined;
  const init = await fetch(target.url, {
    method: 'POST',
    headers: mcpHeaders(target, token),
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 0,
      method: 'initialize',
      params: { protocolVersion: PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'gatehouse-bench', version: '1.0.0' } },
    }),
  });
  const text = await init.text();
  const sid = init.headers.get('mcp-session-id');
  if (init.status !== 200 || !sid || !text.includes('"protocolVersion"')) {
    throw new Error(`initialize via ${target.label}: HTTP ${init.status}, session ${sid}, body ${text.slice(0, 300)}`);
  }
  target.sessionId = sid;
  const ack = await fetch(target.url, {
    method: 'POST',
    headers: mcpHeaders(target, token),
    body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
  });
  await ack.text();
  if (ack.status !== 202) throw new Error(`notifications/initialized via ${target.label}: HTTP ${ack.status}`);
  return sid;
}

/** DELETE the session (frees the upstream's per-session event store). */
export async function closeSession(target: Target, token: string): Promise<void> {
  if (!target.sessionId) return;
  const res = await fetch(target.url, { method: 'DELETE', headers: mcpHeaders(target, token) });
  await res.text();
  target.sessionId = undefined;
  if (res.status !== 200 && res.status !== 204) throw new Error(`DELETE session via ${target.label}: HTTP ${res.status}`);
}

let nextId = 1;

/**
 * JSON-RPC ids must be unique among a session's in-flight requests: the SDK's server transport
 * routes each response to the stream of the request with that id.
 */
export function toolCallBody(name: string, args: Record<string, unknown>, meta?: Record<string, unknown>, id: string | number = nextId++): string {
  const params: Record<string, unknown> = { name, arguments: args };
  if (meta) params._meta = meta;
  return JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params });
}

/**
 * The load's request body, with a fresh id per request. (autocannon's own `idReplacement` is not
 * usable here: it assumes a 27-character id for Content-Length, hyperid makes 24-26, and the
 * server then waits forever for the missing bytes.)
 */
const [ECHO_HEAD, ECHO_TAIL] = toolCallBody('echo', { text: 'hello' }, undefined, 0).split('"id":0');
let echoSeq = 1e6;
const echoBody = () => `${ECHO_HEAD}"id":${echoSeq++}${ECHO_TAIL}`;
const ECHO_EXPECT = '"text":"hello"';

export interface CannonResult {
  /** Per-response latencies in ms (float, from autocannon's hrtime-based response events). */
  latencies: number[];
  requests: number;
  durationS: number;
  reqPerSec: number;
  non2xx: number;
  /** e.g. {"200": 4990, "500": 10} */
  statusCodes: Record<string, number>;
  errors: number;
  timeouts: number;
  mismatches: number;
}

/**
 * One autocannon run. `amount` for a fixed number of calls, else `durationS`.
 * Latencies come from the `response` events (autocannon's own histogram has 1 ms resolution).
 */
export async function cannon(
  target: Target,
  token: string,
  opts: { connections: number; amount?: number; durationS?: number; verify?: boolean; keepLatencies?: boolean },
): Promise<CannonResult> {
  const latencies: number[] = [];
  const instance = autocannon({
    url: target.url,
    method: 'POST',
    headers: mcpHeaders(target, token),
    requests: [{ method: 'POST', setupRequest: (req: Record<string, unknown>) => ({ ...req, body: echoBody() }) }],
    connections: opts.connections,
    pipelining: 1,
    ...(opts.amount ? { amount: opts.amount } : { duration: opts.durationS ?? 3 }),
    ...(opts.verify ? { verifyBody: (body: string) => body.includes(ECHO_EXPECT) } : {}),
    timeout: 10,
  });
  if (opts.keepLatencies) {
    instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
      if (statusCode >= 200 && statusCode < 300) latencies.push(responseTime);
    });
  }
  const r = await instance;
  const durationS = r.duration;
  const requests = r['2xx'] ?? 0;
  return {
    latencies,
    requests,
    durationS,
    reqPerSec: requests / durationS,
    non2xx: r.non2xx,
    statusCodes: Object.fromEntries(Object.entries(r.statusCodeStats ?? {}).map(([k, v]) => [k, v.count])),
    errors: r.errors,
    timeouts: r.timeouts,
    mismatches: r.mismatches ?? 0,
  };
}

export function agentFor(maxSockets: number): http.Agent {
  return new http.Agent({ keepAlive: true, maxSockets });
}

export interface SseResult {
  /** ms from sending the request to the first complete progress event. */
  firstEventMs: number;
  /** ms until the response ended. */
  totalMs: number;
  progressEvents: number;
  gotResult: boolean;
}

/** One `count` call with a progress token: time to the first progress event and to the end. */
export function sseCall(target: Target, token: string, agent: http.Agent, n: number, delayMs: number): Promise<SseResult> {
  const body = toolCallBody('count', { n, delayMs }, { progressToken: 'bench' });
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let firstEventMs = NaN;
    let progressEvents = 0;
    let gotResult = false;
    let buf = '';
    const req = http.request(target.url, { method: 'POST', agent, headers: { ...mcpHeaders(target, token), 'content-length': Buffer.byteLength(body) } }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        return reject(new Error(`SSE call to ${target.label}: HTTP ${res.statusCode}`));
      }
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        let end: number;
        while ((end = buf.indexOf('\n\n')) >= 0) {
          const event = buf.slice(0, end);
          buf = buf.slice(end + 2);
          if (event.includes('"notifications/progress"')) {
            progressEvents++;
            if (progressEvents === 1) firstEventMs = performance.now() - t0;
          } else if (event.includes('"result"')) gotResult = true;
        }
      });
      res.on('end', () => resolve({ firstEventMs, totalMs: performance.now() - t0, progressEvents, gotResult }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** One `big` call; the body is counted, not kept. Returns ms to the end of the response and bytes received. */
export function bigCall(target: Target, token: string, agent: http.Agent, bytes: number): Promise<{ ms: number; bytes: number }> {
  const body = toolCallBody('big', { bytes });
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let received = 0;
    const req = http.request(target.url, { method: 'POST', agent, headers: { ...mcpHeaders(target, token), 'content-length': Buffer.byteLength(body) } }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        return reject(new Error(`1 MiB call to ${target.label}: HTTP ${res.statusCode}`));
      }
      res.on('data', (chunk: Buffer) => (received += chunk.length));
      res.on('end', () => {
        if (received < bytes) return reject(new Error(`1 MiB call to ${target.label}: only ${received} bytes received`));
        resolve({ ms: performance.now() - t0, bytes: received });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}
