import type { IncomingMessage, ServerResponse } from 'node:http';
import { Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { sdkServerTransport } from '../common/mcp-sdk';
import { LRUCache } from 'lru-cache';
import { AuditService } from '../audit/audit.service';
import type { AuditEventType } from '../audit/audit-event-type';
import { HostPolicy } from '../common/allowed-hosts';
import { CorsPolicy } from '../common/cors';
import { ConfigService } from '../config/config.service';
import { AccessTokenInfo } from '../oauth/grants/access-token.cache';
import { GrantsService } from '../oauth/grants/grants.service';
import { bearerChallenge, jsonRpcError, sendJson } from '../proxy/challenge';
import { GateRefusal } from '../proxy/gate-refusal';
import { RateLimiter } from '../proxy/rate-limiter';
import { SharedCounters } from '../rate-limit/shared-counters.service';
import { requiredScope } from '../proxy/required-scope';
import { gateRequestBody } from '../proxy/scope-gate';
import { UpstreamsService } from '../upstreams/upstreams.service';
import { BundleCallerContext, BundleCatalogue } from './bundle-catalogue';
import { bundleOfPath, bundleResourceMetadataUrl } from './bundle-resource';
import { BundlesService } from './bundles.service';
import { BundleRelay, relayableCall } from './bundle-relay';
import { Upstream } from '../upstreams/upstream';
import { VaultService } from '../vault/vault.service';
import { createBundleServer } from './bundle-server';
import { BundleSessionIds } from './bundle-session-ids';

/** The revision whose Streamable HTTP has no sessions: each request stands alone. */
export const STATELESS_REVISION = '2026-07-28';
/** JSON-RPC requests are small; a bundle reads each body whole (it routes by what is in it). */
const MAX_BODY = 4 * 1024 * 1024;
/** Open sessions kept over all users; the least recently used is closed beyond it. */
const MAX_SESSIONS = 5000;
/** A session nobody used for this long is closed (the client starts a new one on its 404, as the transport spec says). */
const SESSION_IDLE_MS = 60 * 60_000;
const METHODS = 'GET, POST, DELETE, OPTIONS';

interface BundleSession {
  id: string;
  grantId: string;
  userId: string;
  server: Server;
  transport: StreamableHTTPServerTransport;
}

/**
 * `/mcp`, the bundle: an MCP server of the gateway's own (bundle-server.ts) over the SDK's
 * Streamable HTTP transport, entered from node:http before Express like the proxy. In front of it,
 * what the proxy does for an upstream: Host/Origin, the bearer token with the bundle as its
 * audience (RFC 8707), a rate limit, the scope (from the body, always read here) and the audit.
 *
 * Session-based clients (2025-06-18, 2025-11-25) get a session at `initialize` (Mcp-Session-Id),
 * bound to the grant of the token that opened it (bundle-session-ids.ts). A session is taken up by
 * whichever replica a request lands on, and survives a restart: the balancer needs no stickiness.
 * A request without a session, and any request of the stateless 2026-07-28 revision, is served on
 * its own by a server made for it.
 */
@Injectable()
export class BundleEndpoint implements OnModuleDestroy {
  private readonly logger = new Logger('Bundle');
  private readonly hosts: HostPolicy;
  private readonly cors: CorsPolicy;
  private readonly limiter: RateLimiter;
  private readonly sessions = new LRUCache<string, BundleSession>({
    max: MAX_SESSIONS,
    ttl: SESSION_IDLE_MS,
    updateAgeOnGet: true,
    dispose: (session) => void session.server.close().catch(() => undefined),
  });
  /** Every stateless request's server still answering, closed with the module. */
  private readonly oneShot = new Set<Server>();
  private sessionIds: BundleSessionIds | null = null;

  constructor(
    private readonly grants: GrantsService,
    private readonly upstreams: UpstreamsService,
    private readonly catalogue: BundleCatalogue,
    private readonly bundles: BundlesService,
    private readonly audit: AuditService,
    private readonly config: ConfigService,
    private readonly vault: VaultService,
    sharedCounters: SharedCounters,
    private readonly relay: BundleRelay,
  ) {
    this.hosts = new HostPolicy(config.publicUrl, config.allowedHosts);
    this.cors = new CorsPolicy(config.cors.allowed_origins, config.publicUrl);
    this.limiter = new RateLimiter(config.rateLimit.mcp_per_minute);
    sharedCounters.share('bundle', this.limiter);
    grants.onGrantRevoked((grantId) => {
      for (const [id, s] of [...this.sessions.entries()]) if (s.grantId === grantId) this.sessions.delete(id);
    });
    // notifications/tools/list_changed (and prompts, resources) to each open session whose union may have changed.
    catalogue.onChange((userId) => {
      for (const s of this.sessions.values()) {
        if (userId !== null && s.userId !== userId) continue;
        void s.server.sendToolListChanged().catch(() => undefined);
        void s.server.sendPromptListChanged().catch(() => undefined);
        void s.server.sendResourceListChanged().catch(() => undefined);
      }
    });
  }

  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    void this.route(req, res).catch((err: Error) => {
      this.logger.error(`bundle failure on ${req.method}: ${err.message}`);
      if (!res.headersSent) sendJson(res, 500, jsonRpcError(-32603, 'gateway error'));
      else res.destroy();
    });
  };

  /** Closes every session (their open GET streams end) and every one-shot server. */
  async endOpenStreams(): Promise<void> {
    const servers = [...this.sessions.values()].map((s) => s.server).concat([...this.oneShot]);
    this.sessions.clear();
    this.oneShot.clear();
    await Promise.all(servers.map((s) => s.close().catch(() => undefined)));
  }

  onModuleDestroy(): Promise<void> {
    return this.endOpenStreams();
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    // The MCP transport spec's DNS-rebinding defence, as at the proxy (mcp-proxy.service.ts).
    if (!this.hosts.allows(req.headers.host)) return sendJson(res, 403, jsonRpcError(-32600, `host not allowed: address this gateway as ${this.hosts.expectedHost}`));
    if (!this.cors.apply(req, res, METHODS)) return sendJson(res, 403, jsonRpcError(-32600, 'origin not allowed'));
    if (req.method === 'OPTIONS') {
      res.writeHead(204, { Allow: METHODS, 'Content-Length': '0' });
      return void res.end();
    }
    const name = bundleOfPath(req.url) ?? null;
    const target = name === null ? this.upstreams.bundle : this.bundles.target(name);
    if (!target) return sendJson(res, 404, jsonRpcError(-32601, 'no such MCP server'));
    const metadataUrl = bundleResourceMetadataUrl(this.config.publicUrl, name);
    const token = await this.authenticate(req, res, target, metadataUrl);
    if (!token) return;
    const caller: BundleCallerContext = { userId: token.userId, clientId: token.clientId, ip: req.socket.remoteAddress ?? null, bundle: name };
    const refuse = (status: number, type: AuditEventType, body: unknown, headers: Record<string, string> = {}, mcpMethod: string | null = null) => {
      sendJson(res, status, body, headers);
      this.recordRefusal(caller, target.slug, type, status, mcpMethod ?? req.method ?? null, started);
    };
    const retryAfter = this.limiter.take(`${token.userId}:${target.slug}`);
    if (retryAfter) return refuse(429, 'rate.limit', jsonRpcError(-32004, 'too many requests; slow down'), { 'Retry-After': String(retryAfter) });

    let body: unknown = undefined;
    let raw: Buffer | null = null;
    let methods: string[] | null = null;
    try {
      const gated = await gateRequestBody(req, MAX_BODY);
      if (gated) {
        body = JSON.parse(gated.body.toString('utf8'));
        raw = gated.body;
        methods = gated.methods;
      }
    } catch (err) {
      if (!(err instanceof GateRefusal)) return void res.destroy(); // the client's body stream failed: it is gone
      return refuse(err.status, 'request.malformed', jsonRpcError(err.code, err.message, err.rpcId), err.headers);
    }
    // RFC 6750 §3.1: the bundle's scopes are the built-in ones; a call needs mcp:tools, the rest mcp:read.
    const granted = token.scope.split(' ');
    const missing = requiredScope(req.method ?? 'GET', methods, this.upstreams.bundle).filter((s) => !granted.includes(s));
    if (missing.length) {
      const description = `this request needs the scope ${missing.join(' ')}`;
      const scope = [...new Set([...granted, ...missing])].join(' ');
      const challenge = bearerChallenge({ error: 'insufficient_scope', description, scope, resourceMetadata: metadataUrl });
      return refuse(403, 'scope.deny', { error: 'insufficient_scope', error_description: description }, { 'WWW-Authenticate': challenge }, methods?.[0]);
    }

    const sessionId = req.headers['mcp-session-id'];
    // tools/call, the bundle's hot path, is relayed without the SDK's server (bundle-relay.ts).
    const relayed = req.method === 'POST' && raw !== null && relayableCall(req, body) ? body : null;
    if (typeof sessionId === 'string') {
      // A session is its grant's: another token (even the same user's, from another client) cannot use it.
      const session = this.sessions.get(sessionId) ?? (await this.takeUpSession(sessionId, token, caller));
      if (!session || session.grantId !== token.grantId) return sendJson(res, 404, jsonRpcError(-32001, 'session not found; start a new one with initialize'));
      if (relayed) return this.relay.call(req, res, caller, relayed, raw!, sessionId);
      if (req.method === 'POST' && isCancellation(body) && this.relay.cancel(sessionId, body.params.requestId)) {
        res.writeHead(202, { 'Content-Length': '0' });
        return void res.end();
      }
      return session.transport.handleRequest(req, res, body);
    }
    if (relayed) return this.relay.call(req, res, caller, relayed, raw!, null);
    const stateless = req.headers['mcp-protocol-version'] === STATELESS_REVISION;
    if (req.method === 'POST' && !stateless && methods?.length === 1 && methods[0] === 'initialize') return this.openSession(req, res, token, caller, body);
    if (req.method !== 'POST') return sendJson(res, 405, jsonRpcError(-32000, 'without Mcp-Session-Id only POST is served'), { Allow: 'POST' });
    return this.serveAlone(req, res, caller, body);
  }

  private async openSession(req: IncomingMessage, res: ServerResponse, token: AccessTokenInfo, caller: BundleCallerContext, body: unknown): Promise<void> {
    const transport: StreamableHTTPServerTransport = new (sdkServerTransport().StreamableHTTPServerTransport)({
      sessionIdGenerator: () => this.ids().mint(token.grantId),
      onsessioninitialized: (id) => void this.sessions.set(id, { id, grantId: token.grantId, userId: token.userId, server, transport }),
      onsessionclosed: (id) => void this.sessions.delete(id),
    });
    const server = createBundleServer(this.catalogue, caller, (id) => transport.closeSSEStream(id));
    await server.connect(transport);
    await transport.handleRequest(req, res, body);
    if (!transport.sessionId) await server.close().catch(() => undefined);
  }

  /**
   * A session this process does not hold (opened on another replica, or before a restart) whose id
   * verifies for the presenting token's grant: a server and transport for it, already initialized.
   * The client's initialize params are not known here; the bundle does not use them (its lists
   * are built per request from the caller), so nothing the client sees differs.
   */
  private async takeUpSession(sessionId: string, token: AccessTokenInfo, caller: BundleCallerContext): Promise<BundleSession | null> {
    if (!this.ids().belongsTo(sessionId, token.grantId)) return null;
    const transport = new (sdkServerTransport().StreamableHTTPServerTransport)({ sessionIdGenerator: () => sessionId, onsessionclosed: (id) => void this.sessions.delete(id) });
    // The SDK (1.x) has no public way to take up a session: these two fields of the web-standard
    // transport inside the node one are what its initialize sets (bundle-sessions.e2e-spec.ts
    // fails should an SDK update move them).
    const inner = (transport as unknown as { _webStandardTransport?: { sessionId?: string; _initialized?: boolean } })._webStandardTransport;
    if (!inner || inner._initialized !== false) return null;
    inner.sessionId = sessionId;
    inner._initialized = true;
    const server = createBundleServer(this.catalogue, caller, (id) => transport.closeSSEStream(id));
    await server.connect(transport);
    // Two requests of one session may arrive together: the first to get here keeps it.
    const raced = this.sessions.get(sessionId);
    if (raced) {
      await server.close().catch(() => undefined);
      return raced;
    }
    const session: BundleSession = { id: sessionId, grantId: token.grantId, userId: token.userId, server, transport };
    this.sessions.set(sessionId, session);
    return session;
  }

  private ids(): BundleSessionIds {
    return (this.sessionIds ??= new BundleSessionIds(this.vault.deriveKey('bundle-session-ids')));
  }

  /**
   * One request on its own: a server and a stateless transport made for it, closed with the response.
   * The SDK (1.x) knows revisions up to 2025-11-25 and refuses an MCP-Protocol-Version it does not
   * know; the 2026-07-28 header was checked against the body above (scope-gate.ts), so it is not
   * handed on, and the SDK answers as for its latest revision, which 2026-07-28 clients read.
   */
  private async serveAlone(req: IncomingMessage, res: ServerResponse, caller: BundleCallerContext, body: unknown): Promise<void> {
    if (req.headers['mcp-protocol-version'] === STATELESS_REVISION) dropHeader(req, 'mcp-protocol-version');
    const transport = new (sdkServerTransport().StreamableHTTPServerTransport)({ sessionIdGenerator: undefined, enableJsonResponse: false });
    const server = createBundleServer(this.catalogue, caller, (id) => transport.closeSSEStream(id));
    this.oneShot.add(server);
    res.once('close', () => {
      this.oneShot.delete(server);
      void server.close().catch(() => undefined);
    });
    await server.connect(transport);
    await transport.handleRequest(req, res, body);
  }

  /** RFC 6750 §3.1 + RFC 9728 §5: the token must be this bundle's (its audience is `<PUBLIC_URL>/mcp[/b/{name}]`). */
  private async authenticate(req: IncomingMessage, res: ServerResponse, target: Upstream, metadataUrl: string): Promise<AccessTokenInfo | null> {
    const deny = (error?: string, description?: string) => {
      const challenge = bearerChallenge({ error, description, resourceMetadata: metadataUrl, scope: target.scopes.join(' ') });
      sendJson(res, 401, { error: error ?? 'unauthorized', error_description: description ?? 'authorization required' }, { 'WWW-Authenticate': challenge });
      return null;
    };
    const header = req.headers.authorization;
    if (!header) return deny();
    const match = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i.exec(header);
    if (!match) return deny('invalid_request', 'malformed Authorization header');
    const info = await this.grants.verifyAccessToken(match[1]);
    if (!info) return deny('invalid_token', 'the access token is invalid, expired or revoked');
    if (info.upstreamSlug !== target.slug) return deny('invalid_token', 'the access token was issued for another resource');
    return info;
  }

  private recordRefusal(caller: BundleCallerContext, slug: string, type: AuditEventType, status: number, mcpMethod: string | null, started: number): void {
    this.audit.record({
      type,
      outcome: 'failure',
      userId: caller.userId,
      clientId: caller.clientId,
      upstreamSlug: slug,
      mcpMethod,
      tool: null,
      status,
      durationMs: Math.round(performance.now() - started),
      ip: caller.ip,
      detail: { via: 'bundle' },
    });
  }
}

/** A notifications/cancelled (MCP "Cancellation"), which may name a relayed call. */
function isCancellation(body: unknown): body is { params: { requestId: unknown } } {
  const m = body as { method?: unknown; params?: unknown } | null;
  return typeof m === 'object' && m !== null && m.method === 'notifications/cancelled' && typeof m.params === 'object' && m.params !== null;
}

/** The SDK's node transport builds its web Request from rawHeaders, so the header goes from both. */
function dropHeader(req: IncomingMessage, name: string): void {
  delete req.headers[name];
  const raw = req.rawHeaders;
  for (let i = raw.length - 2; i >= 0; i -= 2) if (raw[i].toLowerCase() === name) raw.splice(i, 2);
}
