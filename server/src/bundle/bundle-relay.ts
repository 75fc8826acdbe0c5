import { randomBytes } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { StringDecoder } from 'node:string_decoder';
import { Injectable } from '@nestjs/common';
import { sdkClientTransport, sdkTypes } from '../common/mcp-sdk';
import { MAX_CAPTURED_BODY, toolArgumentsOf } from '../audit/tool-arguments';
import { BundleCallerContext, BundleCatalogue, CallRow } from './bundle-catalogue';
import { UpstreamClient, UpstreamClientPool } from './upstream-clients';
import { ChangeFeed } from '../database/change-feed';

/** The largest answer relayed (as the SDK client's limit, upstream-clients.ts); one SSE event is held at a time. */
const MAX_EVENT_BYTES = 32 * 1024 * 1024;
/** The longest request id a cancellation is passed on to the other replicas for. */
const MAX_FORWARDED_ID = 256;
/** Best-effort messages of the gateway's own to the upstream (notifications/cancelled, an error answer) wait at most this long. */
const NOTICE_DEADLINE_MS = 2000;
/** The revision whose Streamable HTTP has no sessions (bundle-endpoint.ts STATELESS_REVISION). */
const STATELESS_REVISION = '2026-07-28';

type RequestId = string | number;

/** A JSON-RPC tools/call request as the relay takes it (checked by relayableCall). */
export interface ToolsCallMessage {
  jsonrpc: '2.0';
  id: RequestId;
  method: 'tools/call';
  params?: unknown;
}

/**
 * Whether a request of the bundle is a single tools/call the relay serves: a JSON-RPC request
 * (not a batch) from a client accepting both answer types (MCP transport, "Sending Messages to
 * the Server": the Accept header lists both) under a revision the gateway knows. Anything else
 * goes to the SDK's server, which answers the odd cases (406, 400) as the spec says.
 */
export function relayableCall(req: IncomingMessage, body: unknown): body is ToolsCallMessage {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return false;
  const m = body as Record<string, unknown>;
  if (m.method !== 'tools/call' || m.jsonrpc !== '2.0' || (typeof m.id !== 'string' && typeof m.id !== 'number')) return false;
  const accept = req.headers.accept ?? '';
  if (!accept.includes('application/json') || !accept.includes('text/event-stream')) return false;
  const version = req.headers['mcp-protocol-version'];
  return version === undefined || version === STATELESS_REVISION || sdkTypes().SUPPORTED_PROTOCOL_VERSIONS.includes(version as string);
}

/**
 * The bundle's tools/call, relayed (issue 12: the SDK's Server and Client on both sides of the
 * gateway cost about 2.5 ms of CPU per call, parsing and validating each message with zod twice,
 * converting node streams to web streams and back, and building a server per stateless request).
 *
 * Every check before the upstream is the catalogue's (routeCall: names, allow-list, scopes, tool
 * filter, refusals audited). The request then goes to the upstream as the caller sent it but for
 * two things: the tool's own name (the `<slug>__` prefix stripped) and the JSON-RPC id (one of the
 * gateway's, unique in the upstream session, which the user's bundle sessions share). It rides
 * the upstream session of the user's pooled SDK client (its Mcp-Session-Id and protocol version),
 * with the user's credential of the moment, over the pool's keep-alive agents (SSRF-guarded for
 * console upstreams). The answer comes back as it came, the id put back: progress notifications
 * (whose token is the caller's own) as they arrive, on an event stream, and the response; nothing
 * is parsed but the small envelope the id is found in.
 *
 * Cancellation: the caller's notifications/cancelled (cancel()) or its connection closing ends
 * the exchange, and the upstream is sent notifications/cancelled for the gateway's id. With
 * replicas, a cancellation may reach another replica than its call (a session is any replica's):
 * one that names no call open here is passed on over the change feed to the one that has it.
 */
@Injectable()
export class BundleRelay {
  /** Open relayed calls of bundle sessions, by session and the caller's id: as many as open requests. */
  private readonly open = new Map<string, () => void>();
  /** Ids the gateway gives its relayed requests: a string never equals the SDK client's numeric ids. */
  private readonly idPrefix = `gatehouse-${randomBytes(4).toString('hex')}-`;
  private sequence = 0;

  constructor(
    private readonly catalogue: BundleCatalogue,
    private readonly pool: UpstreamClientPool,
    private readonly feed: ChangeFeed,
  ) {
    feed.on('bundle.cancelled', (c) => {
      if (c && typeof c.session === 'string' && (typeof c.requestId === 'string' || typeof c.requestId === 'number')) this.cancelHere(c.session, c.requestId);
    });
  }

  /**
   * The caller cancelled a call of its session (MCP "Cancellation"): true if it was a relayed call
   * open here. Otherwise the other replicas are told (the call may be open on one of them), and
   * false: the caller's SDK session here may hold it instead.
   */
  cancel(sessionId: string, requestId: unknown): boolean {
    if (typeof requestId !== 'string' && typeof requestId !== 'number') return false;
    if (this.cancelHere(sessionId, requestId)) return true;
    // Bounded: a NOTIFY payload is at most 8000 bytes, and ids are the caller's choice.
    if (this.feed.shared && String(requestId).length <= MAX_FORWARDED_ID) this.feed.publish('bundle.cancelled', { session: sessionId, requestId });
    return false;
  }

  private cancelHere(sessionId: string, requestId: string | number): boolean {
    const cancel = this.open.get(openKey(sessionId, requestId));
    cancel?.();
    return cancel !== undefined;
  }

  /** Serves one tools/call; `raw` is its body as received (the audit row's argument digest is of it). */
  async call(req: IncomingMessage, res: ServerResponse, caller: BundleCallerContext, message: ToolsCallMessage, raw: Buffer, sessionId: string | null): Promise<void> {
    const downstream = new Downstream(res, message.id);
    const params = message.params as { name?: unknown; arguments?: unknown } | undefined;
    // The checks of CallToolRequestSchema the SDK's server made: params.name a string, arguments an object.
    if (!isObject(params) || typeof params.name !== 'string' || (params.arguments !== undefined && !isObject(params.arguments))) {
      return downstream.error(sdkTypes().ErrorCode.InvalidParams, 'Invalid params: tools/call takes params.name (a string) and params.arguments (an object)');
    }
    let route: Awaited<ReturnType<BundleCatalogue['routeCall']>>;
    try {
      route = await this.catalogue.routeCall(caller, params.name);
    } catch (err) {
      if (err instanceof sdkTypes().McpError) return downstream.error(err.code, err.message);
      throw err;
    }
    if ('answer' in route) return downstream.answer({ result: route.answer });
    const { row } = route;
    // As the proxy captures it (mcp-method.ts): a body beyond MAX_CAPTURED_BODY gets a digest of its start.
    const complete = raw.length <= MAX_CAPTURED_BODY;
    row.toolArguments = toolArgumentsOf(complete ? raw : raw.subarray(0, MAX_CAPTURED_BODY), complete, row.upstream.toolArguments ?? 'digest').record;
    const relayId = `${this.idPrefix}${++this.sequence}`;
    const body = JSON.stringify({ ...message, id: relayId, params: { ...params, name: row.tool } });
    const exchange = new Exchange(this, row, route.client, downstream, relayId, body);
    if (sessionId !== null) {
      const k = openKey(sessionId, message.id);
      const cancel = () => exchange.cancelled();
      this.open.set(k, cancel);
      exchange.onEnd(() => this.open.get(k) === cancel && this.open.delete(k));
    }
    // The caller's connection closing before the answer is a cancellation too (the stateless revision's only one).
    res.once('close', () => exchange.cancelled());
    if (res.destroyed) return exchange.cancelled(); // it closed while the call was being routed
    await exchange.start();
  }

  /** @internal for Exchange */
  get deps(): { catalogue: BundleCatalogue; pool: UpstreamClientPool } {
    return { catalogue: this.catalogue, pool: this.pool };
  }
}

/** The caller's side of one relayed call: a JSON answer, or an event stream once a notification is passed on. */
class Downstream {
  private readonly idJson: string;
  private streaming = false;

  constructor(
    readonly res: ServerResponse,
    id: RequestId,
  ) {
    this.idJson = JSON.stringify(id);
  }

  get ended(): boolean {
    return this.res.writableEnded || this.res.destroyed;
  }

  /** An upstream message passed on as it is (a progress notification), on the event stream. */
  event(data: string): void {
    if (this.ended) return;
    if (!this.streaming) {
      this.streaming = true;
      this.res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive' });
    }
    this.res.write(`event: message\ndata: ${data}\n\n`);
  }

  /** The response, its id the caller's: `json` is a response of the upstream whose id was put back, or an object to serialise. */
  answer(message: string | { result: unknown } | { error: { code: number; message: string } }): void {
    if (this.ended) return;
    const text = typeof message === 'string' ? message : JSON.stringify({ jsonrpc: '2.0', id: JSON.parse(this.idJson) as RequestId, ...message });
    if (this.streaming) return void this.res.end(`event: message\ndata: ${text}\n\n`);
    this.res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    this.res.end(text);
  }

  error(code: number, message: string): void {
    this.answer({ error: { code, message } });
  }

  /** A cancelled request gets no response (MCP "Cancellation"): its stream just ends. */
  end(): void {
    if (this.ended) return;
    if (!this.res.headersSent) this.res.writeHead(202, { 'Content-Length': '0' });
    this.res.end();
  }

  /** The upstream's message with the caller's id in place of the gateway's, or null when it is not the response to the call. */
  rewrite(data: string, relayIdJson: string): string | null {
    return withCallerId(data, relayIdJson, this.idJson);
  }
}

/**
 * An upstream's JSON-RPC message with `callerIdJson` in place of the id `relayIdJson`, or null
 * when it is not the response of that id. The SDK (and most servers) write the id first or last:
 * that is found and replaced in the text, so a large result is not parsed and written again;
 * anything else is parsed. A `,"id":X}` at the very end of a JSON object text is its top-level
 * member (the final brace closes the object, and the comma cannot be inside a string there), and
 * so is a `{"jsonrpc":"2.0","id":X,` at its start.
 */
export function withCallerId(data: string, relayIdJson: string, callerIdJson: string): string | null {
  const tail = `,"id":${relayIdJson}}`;
  if (data.endsWith(tail)) return `${data.slice(0, data.length - tail.length)},"id":${callerIdJson}}`;
  const head = `{"jsonrpc":"2.0","id":${relayIdJson},`;
  if (data.startsWith(head)) return `{"jsonrpc":"2.0","id":${callerIdJson},${data.slice(head.length)}`;
  const parsed = parseObject(data);
  if (!parsed || parsed.id !== JSON.parse(relayIdJson) || !('result' in parsed || 'error' in parsed)) return null;
  return JSON.stringify({ ...parsed, id: JSON.parse(callerIdJson) as RequestId });
}

/** One relayed call, from the request upstream to the end of the answer, audited once. */
class Exchange {
  private done = false;
  private request: http.ClientRequest | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly endListeners: Array<() => void> = [];
  private readonly relayIdJson: string;

  constructor(
    private readonly relay: BundleRelay,
    private readonly row: CallRow,
    private client: UpstreamClient,
    private readonly downstream: Downstream,
    private readonly relayId: string,
    private readonly body: string,
  ) {
    this.relayIdJson = JSON.stringify(relayId);
  }

  onEnd(listener: () => void): void {
    this.endListeners.push(listener);
  }

  async start(retry = true): Promise<void> {
    const { pool } = this.relay.deps;
    const { upstream } = this.row;
    let credential: Record<string, string>;
    try {
      credential = await pool.credentialHeaders(upstream, this.row.caller.userId);
    } catch (err) {
      return this.failed(err);
    }
    if (this.done) return;
    const url = new URL(upstream.url);
    const headers: Record<string, string | number> = {
      ...credential,
      ...this.sessionHeaders(),
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'content-length': Buffer.byteLength(this.body),
    };
    const request = (url.protocol === 'https:' ? https : http).request(url, { method: 'POST', headers, agent: pool.agentFor(upstream, url.protocol) });
    this.request = request;
    this.armTimer();
    request.once('error', (err) => this.failed(err));
    request.once('response', (up) => this.answered(up, retry));
    request.end(this.body);
  }

  /** The caller cancelled, or went away: the upstream is told, the row says so, the stream ends. */
  cancelled(): void {
    if (this.done) return;
    this.finish(499, 'mcp.request', { reason: 'cancelled by the client' });
    this.abortUpstream('cancelled by the client');
    this.downstream.end();
  }

  private answered(up: IncomingMessage, retry: boolean): void {
    if (this.done) return void up.resume();
    const status = up.statusCode ?? 0;
    const { pool } = this.relay.deps;
    if (status === 404 && retry && this.client.transport.sessionId) {
      // The upstream ended its session (it restarted, or expired it): a new one, and the call once more.
      up.resume();
      pool.discard(this.client);
      void pool.client(this.row.upstream, this.row.caller.userId).then(
        (fresh) => {
          this.client = fresh;
          return this.start(false);
        },
        (err: unknown) => this.failed(err),
      );
      return;
    }
    if (status === 401) pool.unauthorized(this.row.upstream, this.row.caller.userId);
    const type = up.headers['content-type'] ?? '';
    if (status < 200 || status > 299 || (!type.includes('text/event-stream') && !type.includes('application/json'))) {
      up.resume();
      return this.failed(new (sdkClientTransport().StreamableHTTPError)(status, `the upstream answered HTTP ${status} (${type || 'no content type'})`));
    }
    up.once('error', (err) => this.failed(err));
    // A connection cut mid-answer (the upstream crashed): a transport failure, as ECONNRESET is.
    // Also fires after every answer: the Error (its stack) is built only for a cut one.
    up.once('close', () => this.done || this.failed(noAnswer('the upstream closed the connection before answering the call')));
    if (type.includes('text/event-stream')) this.readEvents(up);
    else this.readJson(up);
  }

  /** A JSON answer (the upstream's enableJsonResponse): one message, read whole (bounded). */
  private readJson(up: IncomingMessage): void {
    const chunks: Buffer[] = [];
    let size = 0;
    up.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_EVENT_BYTES) return this.failed(new Error('the upstream answer is too large'), up);
      chunks.push(chunk);
    });
    up.once('end', () => {
      if (this.done) return;
      const data = Buffer.concat(chunks).toString('utf8');
      const answer = this.downstream.rewrite(data, this.relayIdJson);
      if (answer === null) return this.failed(new Error('the upstream answered with no response to the call'));
      this.respond(answer);
    });
  }

  /** An event stream (text/event-stream, WHATWG HTML "Server-sent events"): each event's data is one JSON-RPC message. */
  private readEvents(up: IncomingMessage): void {
    const decoder = new StringDecoder('utf8');
    let buffer = '';
    up.on('data', (chunk: Buffer) => {
      if (this.done) return;
      buffer += decoder.write(chunk);
      if (buffer.includes('\r')) buffer = buffer.replace(/\r\n?/g, '\n');
      let boundary: number;
      while (!this.done && (boundary = buffer.indexOf('\n\n')) !== -1) {
        const event = buffer.slice(0, boundary);
        buffer = buffer.slice(boundary + 2);
        this.onEvent(event);
      }
      if (buffer.length > MAX_EVENT_BYTES) this.failed(new Error('an event of the upstream is too large'), up);
    });
    up.once('end', () => {
      if (!this.done) this.failed(noAnswer('the upstream ended its stream without answering the call'));
    });
  }

  private onEvent(event: string): void {
    let data = '';
    for (const line of event.split('\n')) {
      if (!line.startsWith('data:')) continue;
      const value = line.charCodeAt(5) === 32 ? line.slice(6) : line.slice(5);
      data = data ? `${data}\n${value}` : value;
    }
    if (!data) return; // a comment, or an event with an id only (resumability's priming event)
    const answer = this.downstream.rewrite(data, this.relayIdJson);
    if (answer !== null) return this.respond(answer);
    const message = parseObject(data);
    if (!message || typeof message.method !== 'string') return;
    if (message.method === 'notifications/progress') {
      // Its token is the caller's own (params._meta went upstream as it came): passed on as it is.
      this.armTimer(); // a call that makes progress is not timed out (resetTimeoutOnProgress, as before)
      return this.downstream.event(data);
    }
    // A request of the upstream's (sampling, elicitation, roots): the bundle's client declares no such
    // capability, so it is answered as the SDK client answered it, "method not found".
    if (message.id !== undefined && message.id !== null) {
      this.notify({ jsonrpc: '2.0', id: message.id, error: { code: sdkTypes().ErrorCode.MethodNotFound, message: 'Method not found' } });
    }
  }

  private respond(answer: string): void {
    if (this.done) return;
    // The upstream's answer, an error of its own included, is a completed exchange (as at the proxy: a 200 with an error).
    this.finish(200);
    this.downstream.answer(answer);
  }

  /** No answer of the upstream: the catalogue says what the caller is told and records the row. */
  private failed(err: unknown, up?: IncomingMessage): void {
    if (this.done) return;
    up?.destroy();
    this.request?.destroy();
    this.done = true;
    this.ended();
    const { catalogue } = this.relay.deps;
    const failure = catalogue.upstreamFailed(this.row, this.client, err);
    if (failure && 'result' in failure) return this.downstream.answer({ result: failure.result });
    if (!failure) catalogue.record(this.row, 502, 'mcp.request', { reason: 'the upstream answer could not be read' });
    this.downstream.error(sdkTypes().ErrorCode.InternalError, `${this.row.upstream.name} gave an answer the gateway cannot read`);
  }

  /** MCP "Timeouts": the call is cancelled upstream and the caller told; progress restarts the clock. */
  private armTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    const { upstream } = this.row;
    this.timer = setTimeout(() => {
      if (this.done) return;
      this.finish(504, 'upstream.timeout');
      this.abortUpstream('timed out');
      this.downstream.error(sdkTypes().ErrorCode.RequestTimeout, `${upstream.name} did not answer within ${upstream.timeoutMs / 1000} s`);
    }, upstream.timeoutMs);
  }

  private finish(status: number, type?: 'mcp.request' | 'upstream.timeout', detail?: Record<string, unknown>): void {
    this.done = true;
    this.ended();
    this.relay.deps.catalogue.record(this.row, status, type, detail);
  }

  private ended(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    for (const l of this.endListeners.splice(0)) l();
  }

  private abortUpstream(reason: string): void {
    if (!this.request) return; // nothing was sent
    this.request.destroy();
    this.notify({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: this.relayId, reason } });
  }

  /** A message of the gateway's own to the upstream session, best effort (its answer is not awaited for anything). */
  private notify(message: object): void {
    const { pool } = this.relay.deps;
    const { upstream, caller } = this.row;
    const body = JSON.stringify(message);
    void pool.credentialHeaders(upstream, caller.userId).then(
      (credential) => {
        const url = new URL(upstream.url);
        const headers = {
          ...credential,
          ...this.sessionHeaders(),
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'content-length': Buffer.byteLength(body),
        };
        const req = (url.protocol === 'https:' ? https : http).request(url, { method: 'POST', headers, agent: pool.agentFor(upstream, url.protocol), timeout: NOTICE_DEADLINE_MS });
        req.once('response', (r) => r.resume());
        req.once('timeout', () => req.destroy());
        req.once('error', () => undefined);
        req.end(body);
      },
      () => undefined,
    );
  }

  private sessionHeaders(): Record<string, string> {
    const { sessionId, protocolVersion } = this.client.transport;
    return { ...(sessionId ? { 'mcp-session-id': sessionId } : {}), ...(protocolVersion ? { 'mcp-protocol-version': protocolVersion } : {}) };
  }
}

/** An exchange that ended without the response: reported like a broken connection (a string `code` is what pool.failed reads as a transport failure). */
function noAnswer(message: string): Error {
  return Object.assign(new Error(message), { code: 'ERR_NO_ANSWER' });
}

function openKey(sessionId: string, requestId: RequestId): string {
  return `${sessionId}\0${typeof requestId}\0${requestId}`;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseObject(data: string): Record<string, unknown> | null {
  try {
    const value = JSON.parse(data) as unknown;
    return isObject(value) ? value : null;
  } catch {
    return null;
  }
}
