import type { Logger } from '@nestjs/common';
import type { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { ReadBuffer, serializeMessage } from '@modelcontextprotocol/sdk/shared/stdio.js';
import { isJSONRPCErrorResponse, isJSONRPCNotification, isJSONRPCRequest, isJSONRPCResultResponse, JSONRPCMessage, RequestId } from '@modelcontextprotocol/sdk/types.js';
import { describeExit, ManagedProcess, ProcessExit } from './managed-process';

/** Lines longer than this from a process's stdout end its channel (the SDK's ReadBuffer holds a line whole). */
const MAX_LINE_BYTES = 16 * 1024 * 1024;

/** One MCP session of a client at /mcp/{slug}, bridged to a process (an SDK server transport on the HTTP side). */
export interface RelaySession {
  id: string;
  transport: StreamableHTTPServerTransport;
  userId: string;
  lastUsed: number;
  /** The client's request id (JSON-encoded) → the id the process saw, for cancellations. */
  inFlight: Map<string, number>;
  /**
   * The tools of a tools/list result this session's user may see (the gateway's tool policy and
   * pinning, set by the proxy with each request); null: every tool, as the process listed them.
   */
  filterTools?: ((tools: unknown[]) => unknown[]) | null;
}

interface Pending {
  session: RelaySession;
  id: RequestId;
  method: string;
  progressToken?: string | number;
  timer: NodeJS.Timeout;
}

/**
 * The relay between the sessions of one process and that process's stdin/stdout. Messages are
 * relayed as they are (the SDK frames them: one JSON-RPC message per line), except for ids:
 *
 * - Every request from a client gets a fresh numeric id on its way to the process, and its own id
 *   back on the response (`pending`). So the requests of several sessions sharing one process
 *   never collide, and a response reaches the session that asked. A progress token rides with
 *   its request: it is replaced by the same fresh id and restored on `notifications/progress`;
 *   `notifications/cancelled` names the fresh id.
 * - A shared process is initialized once (the first session's initialize goes through); a later
 *   session's initialize is answered with the result the process gave, and its
 *   `notifications/initialized` is not repeated: one stdio server talks to one client.
 * - Requests from the process (sampling, elicitation, roots) go to the session with a request in
 *   flight (the one whose tool is asking), else the only session; the client's answer carries
 *   the process's own id back unchanged.
 */
export class StdioChannel {
  readonly sessions = new Set<RelaySession>();
  lastUsed = Date.now();
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly readBuffer = new ReadBuffer({ maxBufferSize: MAX_LINE_BYTES });
  /** The process's answer to the first initialize (given to every later session's initialize). */
  private initResult: Record<string, unknown> | null = null;
  /** The id of the initialize in flight at the process, and the later sessions' initializes waiting for it. */
  private initGid: number | null = null;
  private initWaiters: Array<{ session: RelaySession; id: RequestId }> = [];
  private initializedSent = false;

  constructor(
    readonly proc: ManagedProcess,
    /** One process for every session (else this session's own, stopped with it). */
    readonly shared: boolean,
    private readonly opts: { label: string; timeoutMs: number; logger: Logger },
  ) {
    proc.child.stdout!.on('data', (chunk: Buffer) => this.read(chunk));
    // A write after the process died fails with EPIPE: its exit is what ends the sessions.
    proc.child.stdin!.on('error', () => undefined);
    void proc.exited.then((exit) => this.ended(exit));
  }

  get inFlightCount(): number {
    return this.pending.size;
  }

  /** A message a client POSTed in `session`. */
  fromClient(session: RelaySession, message: JSONRPCMessage): void {
    session.lastUsed = this.lastUsed = Date.now();
    if (isJSONRPCRequest(message)) return this.requestFromClient(session, message);
    if (isJSONRPCNotification(message)) {
      if (message.method === 'notifications/initialized') {
        if (this.initializedSent) return;
        this.initializedSent = true;
      }
      if (message.method === 'notifications/cancelled') {
        const gid = session.inFlight.get(JSON.stringify(message.params?.requestId));
        if (gid === undefined) return; // not in flight (any more): nothing to cancel
        return this.write({ ...message, params: { ...message.params, requestId: gid } });
      }
    }
    // Notifications and the client's answers to the process's own requests go as they are.
    this.write(message);
  }

  /** The session is gone (DELETE, idle, its client cut): its requests in flight are forgotten. */
  detach(session: RelaySession): void {
    this.sessions.delete(session);
    this.initWaiters = this.initWaiters.filter((w) => w.session !== session);
    for (const [gid, p] of this.pending) {
      if (p.session !== session) continue;
      this.settle(gid, p);
      this.initializeFailed(gid, 'the session that initialized the process ended');
      this.write({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: gid, reason: 'the client session ended' } });
    }
  }

  private requestFromClient(session: RelaySession, message: Extract<JSONRPCMessage, { method: string; id: RequestId }>): void {
    if (message.method === 'initialize' && this.initResult) {
      // A later session of a shared process: the process was initialized once already.
      return void this.toSession(session, { jsonrpc: '2.0', id: message.id, result: this.initResult });
    }
    if (message.method === 'initialize' && this.initGid !== null) return void this.initWaiters.push({ session, id: message.id });
    const gid = this.nextId++;
    const params = message.params && { ...message.params };
    const meta = params?._meta as { progressToken?: string | number } | undefined;
    const progressToken = meta?.progressToken;
    if (params && meta && progressToken !== undefined) params._meta = { ...meta, progressToken: gid };
    const timer = setTimeout(() => this.timedOut(gid), this.opts.timeoutMs);
    timer.unref();
    this.pending.set(gid, { session, id: message.id, method: message.method, progressToken, timer });
    session.inFlight.set(JSON.stringify(message.id), gid);
    if (message.method === 'initialize') this.initGid = gid;
    this.write({ ...message, id: gid, ...(params && { params }) });
  }

  private read(chunk: Buffer): void {
    try {
      this.readBuffer.append(chunk);
      for (let message = this.readBuffer.readMessage(); message; message = this.readBuffer.readMessage()) this.fromProcess(message);
    } catch (err) {
      // Not JSON-RPC on stdout (a stray print), or a line over the bound: the stream cannot be
      // trusted to be in step any more, so the process is stopped and its sessions end.
      this.opts.logger.warn(`${this.opts.label}: stopped: its stdout is not MCP (${(err as Error).message.slice(0, 200)})`);
      this.readBuffer.clear();
      void this.proc.stop();
    }
  }

  private fromProcess(message: JSONRPCMessage): void {
    if (isJSONRPCResultResponse(message) || isJSONRPCErrorResponse(message)) {
      const gid = typeof message.id === 'number' ? message.id : NaN;
      const p = this.pending.get(gid);
      if (!p) return; // answered already (timed out), or for a session gone
      this.settle(gid, p);
      if (gid === this.initGid) this.initializeAnswered(message);
      return void this.toSession(p.session, { ...withVisibleTools(p, message), id: p.id });
    }
    if (isJSONRPCNotification(message) && message.method === 'notifications/progress') {
      const p = this.pending.get(Number(message.params?.progressToken));
      if (p && p.progressToken !== undefined) {
        return void this.toSession(p.session, { ...message, params: { ...message.params, progressToken: p.progressToken } }, p.id);
      }
    }
    if (isJSONRPCRequest(message)) {
      const target = this.askingSession();
      if (target) return void this.toSession(target.session, message, target.id);
      return this.write({ jsonrpc: '2.0', id: message.id, error: { code: -32601, message: 'no single client session to ask: the process is shared by several' } });
    }
    // Other notifications (logging, list changes): to every session, on the request in flight if one.
    for (const session of this.sessions) {
      const inFlight = [...this.pending.values()].filter((p) => p.session === session);
      void this.toSession(session, message, inFlight.length === 1 ? inFlight[0].id : undefined);
    }
  }

  /** A refused initialize is not remembered: the next session's initialize goes to the process again. */
  private initializeAnswered(message: JSONRPCMessage): void {
    this.initGid = null;
    if (isJSONRPCResultResponse(message)) this.initResult = message.result;
    const waiters = this.initWaiters.splice(0);
    for (const w of waiters) void this.toSession(w.session, isJSONRPCResultResponse(message) ? { jsonrpc: '2.0', id: w.id, result: message.result } : { ...message, id: w.id });
  }

  private askingSession(): { session: RelaySession; id?: RequestId } | null {
    const inFlight = [...this.pending.values()];
    if (inFlight.length) return { session: inFlight[inFlight.length - 1].session, id: inFlight[inFlight.length - 1].id };
    return this.sessions.size === 1 ? { session: [...this.sessions][0] } : null;
  }

  private settle(gid: number, p: Pending): void {
    clearTimeout(p.timer);
    this.pending.delete(gid);
    p.session.inFlight.delete(JSON.stringify(p.id));
  }

  /** The initialize in flight will get no answer (timed out, process gone): its waiters get this error. */
  private initializeFailed(gid: number, message: string): void {
    if (gid !== this.initGid) return;
    this.initializeAnswered({ jsonrpc: '2.0', id: gid, error: { code: -32002, message } });
  }

  private timedOut(gid: number): void {
    const p = this.pending.get(gid);
    if (!p) return;
    this.settle(gid, p);
    const message = `${this.opts.label} did not answer within ${this.opts.timeoutMs / 1000} s`;
    this.initializeFailed(gid, message);
    this.write({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: gid, reason: 'timed out at the gateway' } });
    void this.toSession(p.session, { jsonrpc: '2.0', id: p.id, error: { code: -32001, message } });
  }

  /** The process ended: every request in flight gets a JSON-RPC error, then its sessions are closed. */
  private ended(exit: ProcessExit): void {
    const why = exit.requested ? 'was stopped' : describeExit(exit);
    const message = `the MCP server process of ${this.opts.label} ${why}; start a new session`;
    for (const [gid, p] of this.pending) {
      this.settle(gid, p);
      this.initializeFailed(gid, message);
      void this.toSession(p.session, { jsonrpc: '2.0', id: p.id, error: { code: -32002, message } });
    }
    this.initResult = null;
  }

  private write(message: JSONRPCMessage): void {
    const stdin = this.proc.child.stdin!;
    if (this.proc.running && stdin.writable) stdin.write(serializeMessage(message));
  }

  private async toSession(session: RelaySession, message: JSONRPCMessage, relatedRequestId?: RequestId): Promise<void> {
    try {
      await session.transport.send(message, relatedRequestId === undefined ? undefined : { relatedRequestId });
    } catch {
      // The client's stream for that request is gone (it disconnected): nobody is left to tell.
    }
  }
}

/** A tools/list result as this session's user may see it (RelaySession.filterTools). */
function withVisibleTools(p: Pending, message: JSONRPCMessage): JSONRPCMessage {
  const filter = p.session.filterTools;
  if (!filter || p.method !== 'tools/list' || !isJSONRPCResultResponse(message)) return message;
  const tools = (message.result as { tools?: unknown }).tools;
  return Array.isArray(tools) ? { ...message, result: { ...message.result, tools: filter(tools) } } : message;
}
