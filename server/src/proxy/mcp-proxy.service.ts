import http from 'node:http';
import https from 'node:https';
import { Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { createProxyMiddleware, debugProxyErrorsPlugin, proxyEventsPlugin, RequestHandler } from 'http-proxy-middleware';
import { LRUCache } from 'lru-cache';
import type { AuditEventType } from '../audit/audit-event-type';
import { AuditRecord, AuditService } from '../audit/audit.service';
import { ConfigService } from '../config/config.service';
import { AppLogger } from '../logging/app-logger';
import { MetricsRecorder } from '../metrics/metrics-recorder';
import { AccessTokenInfo } from '../oauth/grants/access-token.cache';
import { GrantsService } from '../oauth/grants/grants.service';
import { Upstream } from '../upstreams/upstream';
import { AccessPolicyService } from '../upstreams/access-policy.service';
import { UpstreamCredentialsService } from '../upstreams/upstream-credentials.service';
import { UpstreamAuthUnavailableError } from '../upstreams/upstream-oauth/upstream-oauth.service';
import { UpstreamsService } from '../upstreams/upstreams.service';
import { SpawnedUpstreamsService } from '../upstreams/transports/spawned-upstreams.service';
import { StdioBridgeService, StdioRefusal } from '../upstreams/transports/stdio-bridge.service';
import { bearerChallenge, jsonRpcError, sendJson } from './challenge';
import { HostPolicy } from '../common/allowed-hosts';
import { CorsPolicy } from '../common/cors';
import { unsendableHeader } from './header-values';
import { copyResponseHeaders, stripHopByHop } from './hop-by-hop';
import { createGuardedAgent } from '../common/ssrf';
import { capturedBody, sniffMcpMethod, toolCallAudit, toolNameOfBody } from './mcp-method';
import { McpTelemetry, TelemetryContext } from './mcp-telemetry';
import { RequestTracing } from '../tracing/request-tracing';
import { GateRefusal } from './gate-refusal';
import { BodyTooLarge, readBody, replayBody } from './request-body';
import { RateLimiter } from './rate-limiter';
import { SharedCounters } from '../rate-limit/shared-counters.service';
import { requiredScope } from './required-scope';
import { GatedBody, gateRequestBody } from './scope-gate';
import type { ToolRequestPlan } from '../tool-policy/tool-gate.service';
import { ToolGateService } from '../tool-policy/tool-gate.service';
import { ToolsListResponses } from './tools-list-responses';
import type { ListedTool } from './tools-list-rewrite';

type ProxiedRequest = http.IncomingMessage & { gatehouse?: ProxyContext };

interface ProxyContext extends TelemetryContext {
  upstream: Upstream;
  token: AccessTokenInfo;
  started: number;
  mcpMethod: string | null;
  rpcId: unknown;
  /** True once the gateway read the body itself (scope check), so no sniffing is needed. */
  bodyRead: boolean;
  /** The body the scope check read (decoded), for a stdio upstream's bridge. */
  body?: Buffer;
  /** Where the request goes: the upstream's URL, or a spawned upstream's loopback address. */
  target?: string;
  timedOut: boolean;
  /** Whether the upstream request went out on a pooled keep-alive socket (see mayRetry). */
  reusedSocket?: boolean;
  retried?: boolean;
  /** Set when the exchange failed in a way its status code does not show; audited with this type. */
  failure?: { type: AuditEventType; reason: string };
  /** Set when the upstream has tool rules or pinning: the caller, and the tools/list responses to filter. */
  toolPlan?: ToolRequestPlan;
}

/** A body read for a scope check is held in memory: JSON-RPC requests are small. */
const MAX_CHECKED_BODY = 4 * 1024 * 1024;

/**
 * Pooled upstream sockets idle longer than this are closed by the gateway: below the 5 s
 * keep-alive timeout of node's and uvicorn's HTTP servers, so the gateway lets an idle socket go
 * before the upstream does; otherwise the upstream's close can cross a request the gateway just
 * sent on that socket (a reset before any response, see mayRetry). A shorter
 * `Keep-Alive: timeout=N` hint from the upstream is honoured by node's agent itself (N - 1 s).
 */
const IDLE_SOCKET_TIMEOUT_MS = 4000;

const METHODS = 'GET, POST, DELETE, OPTIONS';
const SLUG_PATH = /^\/mcp\/([a-z0-9][a-z0-9-]*)\/?(?:\?.*)?$/;
/** The proxy's own paths: /mcp and everything below it. */
export const isMcpPath = (url: string | undefined) => !!url && (url === '/mcp' || url.startsWith('/mcp/') || url.startsWith('/mcp?'));
/**
 * Never forwarded downstream: the upstream's own auth challenges, cookies and CORS answers
 * (the gateway answers CORS itself). Hop-by-hop headers are dropped as well (hop-by-hop.ts).
 */
const STRIPPED_RESPONSE_HEADERS: ReadonlySet<string> = new Set([
  'www-authenticate',
  'set-cookie',
  'access-control-allow-origin',
  'access-control-allow-credentials',
  'access-control-expose-headers',
]);

/** The head of an event stream whose first event has not come yet (proxyRes). */
function flushHead(res: http.ServerResponse): void {
  if (!res.headersSent && !res.destroyed) res.flushHeaders();
}

/**
 * The resource server: /mcp/{slug} checks the bearer token and its audience,
 * swaps the client's credential for the upstream's, and streams both ways
 * through http-proxy-middleware without buffering.
 */
@Injectable()
export class McpProxyService implements OnModuleDestroy {
  private readonly logger = new Logger('Proxy');
  private readonly cors: CorsPolicy;
  private readonly hosts: HostPolicy;
  /** Refused Host names already logged, so that a scanner cannot flood the log (bounded). */
  private readonly refusedHostsLogged = new LRUCache<string, true>({ max: 256 });
  private readonly proxies = new Map<string, RequestHandler>();
  /** Per upstream, a proxy that always opens a new connection: for the one retry of mayRetry. */
  private readonly freshProxies = new Map<string, RequestHandler>();
  /** Every proxied response still open, with the grant its token belongs to (revoking the grant cuts it). */
  private readonly inFlight = new Map<http.ServerResponse, string>();
  private readonly limiter: RateLimiter;
  private readonly telemetry: McpTelemetry;
  private readonly toolsLists: ToolsListResponses;
  private readonly httpAgent = new http.Agent({ keepAlive: true, maxSockets: 256, scheduling: 'lifo', timeout: IDLE_SOCKET_TIMEOUT_MS });
  private readonly httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 256, scheduling: 'lifo', timeout: IDLE_SOCKET_TIMEOUT_MS });
  private readonly freshHttpAgent = new http.Agent({ keepAlive: false });
  private readonly freshHttpsAgent = new https.Agent({ keepAlive: false });
  /** For upstreams added in the console (`upstream.guarded`): every connection must go to a public address. */
  private readonly guardedAgents = {
    'http:': createGuardedAgent('http:', { keepAlive: true, maxSockets: 256, scheduling: 'lifo', timeout: IDLE_SOCKET_TIMEOUT_MS }),
    'https:': createGuardedAgent('https:', { keepAlive: true, maxSockets: 256, scheduling: 'lifo', timeout: IDLE_SOCKET_TIMEOUT_MS }),
  };
  private readonly freshGuardedAgents = { 'http:': createGuardedAgent('http:', { keepAlive: false }), 'https:': createGuardedAgent('https:', { keepAlive: false }) };

  constructor(
    private readonly grants: GrantsService,
    private readonly upstreams: UpstreamsService,
    private readonly policy: AccessPolicyService,
    private readonly credentials: UpstreamCredentialsService,
    private readonly audit: AuditService,
    private readonly config: ConfigService,
    private readonly toolGate: ToolGateService,
    logger: AppLogger,
    metrics: MetricsRecorder,
    tracing: RequestTracing,
    private readonly stdio: StdioBridgeService,
    private readonly spawned: SpawnedUpstreamsService,
    sharedCounters: SharedCounters,
  ) {
    this.telemetry = new McpTelemetry(logger.lineLogger('access'), metrics, tracing);
    this.cors = new CorsPolicy(config.cors.allowed_origins, config.publicUrl);
    this.hosts = new HostPolicy(config.publicUrl, config.allowedHosts);
    this.limiter = new RateLimiter(config.rateLimit.mcp_per_minute);
    sharedCounters.share('mcp', this.limiter);
    this.toolsLists = new ToolsListResponses(toolGate, this.logger);
    grants.onGrantRevoked((grantId) => this.cutStreamsOf(grantId));
    // A changed upstream (URL, timeout, guard) gets a new proxy at its next request.
    upstreams.onChange((slug) => {
      this.proxies.delete(slug);
      this.freshProxies.delete(slug);
    });
  }

  /** Handles every /mcp request straight from node:http, ahead of Express and any body parser. */
  readonly handle = (req: ProxiedRequest, res: http.ServerResponse): void => {
    void this.route(req, res).catch((err: Error) => {
      this.logger.error(`proxy failure on ${req.method} ${req.url?.split('?')[0]}: ${err.message}`);
      if (!res.headersSent) sendJson(res, 500, jsonRpcError(-32603, 'gateway error'));
      else res.destroy();
    });
  };

  /** Ends every proxied request still open (e.g. GET streams) and waits until each has been audited. */
  async endOpenStreams(): Promise<void> {
    await Promise.all(
      [...this.inFlight.keys()].map(
        (res) =>
          new Promise<void>((resolve) => {
            res.once('close', () => resolve());
            res.destroy();
          }),
      ),
    );
  }

  /** A revoked grant keeps nothing open: its long-lived GET streams and pending calls end now. */
  private cutStreamsOf(grantId: string): void {
    for (const [res, owner] of this.inFlight) if (owner === grantId) res.destroy();
  }

  onModuleDestroy(): void {
    for (const agent of [this.httpAgent, this.httpsAgent, this.freshHttpAgent, this.freshHttpsAgent]) agent.destroy();
    for (const agent of [...Object.values(this.guardedAgents), ...Object.values(this.freshGuardedAgents)]) agent.destroy();
  }

  private async route(req: ProxiedRequest, res: http.ServerResponse): Promise<void> {
    const started = performance.now();
    // MCP transport spec: servers must stop DNS rebinding, by the Host (a rebound name) and the
    // Origin (a foreign page); the Host first, before any authentication, as the conformance suite expects.
    if (!this.hosts.allows(req.headers.host)) return this.refuseHost(req, res);
    if (!this.cors.apply(req, res, METHODS)) {
      return sendJson(res, 403, jsonRpcError(-32600, 'origin not allowed'));
    }
    if (req.method === 'OPTIONS') {
      res.writeHead(204, { Allow: METHODS, 'Content-Length': '0' });
      return void res.end();
    }
    const slug = SLUG_PATH.exec(req.url ?? '')?.[1];
    const upstream = slug ? this.upstreams.get(slug) : undefined;
    if (!upstream) return sendJson(res, 404, jsonRpcError(-32601, 'no such MCP server'));

    const token = await this.authenticate(req, res, upstream);
    if (!token) return this.telemetry.unauthenticated(req, res, upstream.slug, started);

    const ctx: ProxyContext = { upstream, token, started, mcpMethod: null, rpcId: null, bodyRead: false, timedOut: false };
    this.telemetry.beginTrace(req, ctx, started);
    req.gatehouse = ctx;
    const retryAfter = this.limiter.enabled ? this.limiter.take(`${token.userId}:${upstream.slug}`) : 0;
    if (retryAfter) {
      sendJson(res, 429, jsonRpcError(-32004, 'too many requests; slow down'), { 'Retry-After': String(retryAfter) });
      return this.recordRequest(req, res, ctx, 'rate.limit');
    }
    if (!(await this.policy.allows(upstream, token.userId))) {
      sendJson(res, 403, jsonRpcError(-32003, `you are not allowed to use ${upstream.name}`));
      return this.recordRequest(req, res, ctx, 'policy.deny');
    }
    const granted = token.scope.split(' ');
    const needsScopeCheck = !upstream.scopes.every((s) => granted.includes(s));
    // Only these two read the body; an unrestricted token to an upstream without tool rules streams untouched.
    const readsTools = this.toolGate.engaged(upstream.slug);
    if (needsScopeCheck || readsTools) {
      const gated = await this.readRequest(req, res, ctx);
      if (gated === false) return;
      if (needsScopeCheck && !this.checkScope(req, res, ctx, granted, gated?.methods ?? null)) return;
      if (readsTools && !(await this.checkTools(req, res, ctx, gated))) return;
    }
    let credential;
    try {
      credential = await this.credentials.headersFor(upstream, token.userId);
    } catch (err) {
      if (!(err instanceof UpstreamAuthUnavailableError)) throw err;
      sendJson(res, 503, jsonRpcError(-32002, `the sign-in service of ${upstream.name} is unavailable; try again shortly`), { 'Retry-After': '30' });
      return this.recordRequest(req, res, ctx, 'upstream.credential');
    }
    if ('reauthorize' in credential) {
      // The upstream credential is gone (e.g. its refresh was refused). Ending the grant makes the
      // client's refresh fail too, so it goes back through /authorize, where the user signs in again.
      await this.grants.revokeGrant(token.grantId, `upstream credential lost: ${credential.reauthorize}`);
      this.denyToken(res, upstream, 'invalid_token', `re-authorization needed: ${credential.reauthorize}`);
      return this.recordRequest(req, res, ctx, 'upstream.credential');
    }
    if (upstream.transport === 'stdio') return this.bridgeStdio(req, res, ctx, credential.headers);
    // A spawned upstream is reached on the loopback port of the child the gateway runs.
    const target = upstream.transport === 'spawn' ? this.spawned.targetOf(upstream) : upstream.url;
    ctx.target = target ?? undefined;
    if (!target) {
      sendJson(res, 503, jsonRpcError(-32002, `${upstream.name} is starting or restarting; try again shortly`), { 'Retry-After': '5' });
      return this.recordRequest(req, res, ctx, 'upstream.unavailable');
    }
    // Never forwarded upstream: the client's gateway credential, its browser state, and the
    // hop-by-hop headers of its connection to us (before the credential goes in, so a
    // Connection header cannot name the credential away).
    delete req.headers.authorization;
    delete req.headers.cookie;
    stripHopByHop(req.headers);
    // Expect is not forwarded: node has already answered a 100-continue expectation to the client
    // (RFC 9110 §10.1.1), and http-proxy skips its proxyReq hook (timeout, retry bookkeeping) for
    // a request that carries one.
    delete req.headers.expect;
    Object.assign(req.headers, credential.headers);
    this.inFlight.set(res, token.grantId);
    res.once('close', () => {
      this.inFlight.delete(res);
      this.recordRequest(req, res, ctx, ctx.failure?.type, ctx.failure && { reason: ctx.failure.reason });
    });
    void this.proxyFor(upstream, false, target)(req, res, (err?: unknown) => this.forwardFailed(req, res, upstream, err));
  }

  /**
   * A stdio upstream: after the same checks as any upstream, the request goes to the bridge
   * (upstreams/transports/stdio-bridge.service.ts), which relays its JSON-RPC messages to the
   * process. The body is parsed here (the SDK's server transport takes it parsed), bounded like
   * the scope check's.
   */
  private async bridgeStdio(req: ProxiedRequest, res: http.ServerResponse, ctx: ProxyContext, credential: Record<string, string>): Promise<void> {
    let body: unknown;
    if (req.method === 'POST') {
      const coding = String(req.headers['content-encoding'] ?? 'identity').toLowerCase();
      if (!ctx.body && coding !== 'identity') {
        sendJson(res, 415, jsonRpcError(-32600, `content-encoding ${coding.slice(0, 40)} is not accepted for this MCP server; send the body uncompressed`));
        return this.recordRequest(req, res, ctx, 'request.malformed');
      }
      let raw: Buffer;
      try {
        raw = ctx.body ?? (await readBody(req, MAX_CHECKED_BODY));
      } catch (err) {
        if (!(err instanceof BodyTooLarge)) return void res.destroy();
        sendJson(res, 413, jsonRpcError(-32600, `request body over ${MAX_CHECKED_BODY} bytes`));
        return this.recordRequest(req, res, ctx, 'request.malformed');
      }
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        sendJson(res, 400, jsonRpcError(-32700, 'Parse error: the body is not JSON'));
        return this.recordRequest(req, res, ctx, 'request.malformed');
      }
      const first = (Array.isArray(body) ? body[0] : body) as { method?: unknown; id?: unknown; params?: { name?: unknown } } | null;
      if (!ctx.mcpMethod && first && typeof first === 'object') {
        ctx.mcpMethod = typeof first.method === 'string' ? first.method.slice(0, 128) : 'response';
        ctx.rpcId = first.id ?? null;
        if (first.method === 'tools/call' && typeof first.params?.name === 'string') ctx.tool = first.params.name.slice(0, 128);
        // The audit row's argument digest (audit/tool-arguments.ts), as for any upstream.
        if (first.method === 'tools/call') ctx.toolCall ??= capturedBody(raw);
      }
    }
    this.inFlight.set(res, ctx.token.grantId);
    res.once('close', () => {
      this.inFlight.delete(res);
      this.recordRequest(req, res, ctx, ctx.failure?.type, ctx.failure && { reason: ctx.failure.reason });
    });
    try {
      // The tool gate's tools/list filter: the bridge answers from the process, not through proxyRes.
      const plan = ctx.toolPlan;
      const filterTools = plan ? (tools: unknown[]) => this.toolGate.visibleTools(ctx.upstream.slug, plan.caller, tools as ListedTool[]) : null;
      await this.stdio.handle(req, res, ctx.upstream, ctx.token.userId, credential, body, filterTools);
    } catch (err) {
      if (!(err instanceof StdioRefusal)) throw err;
      if (err.status === 429 || err.status === 503) ctx.failure = { type: 'upstream.unavailable', reason: err.message };
      if (res.headersSent) return void res.destroy();
      sendJson(res, err.status, jsonRpcError(err.code, err.message, (ctx.rpcId ?? null) as string | number | null), err.headers);
    }
  }

  /**
   * http-proxy-middleware hands over what http-proxy threw before any byte went upstream. The
   * upstream is known, so this is never a 404. In practice the throw is node refusing a header
   * value (http.request validates them): only the upstream credential can be one, since node's
   * parser admitted every header of the client, so the answer says which credential to replace.
   */
  private forwardFailed(req: ProxiedRequest, res: http.ServerResponse, upstream: Upstream, err: unknown): void {
    const ctx = req.gatehouse!;
    const code = (err as NodeJS.ErrnoException | undefined)?.code;
    const rpcId = (ctx.rpcId ?? null) as string | number | null;
    // Only the header's name is logged: node's message is safe, but the value is a secret.
    const badHeader = unsendableHeader(req.headers);
    if (badHeader) {
      this.logger.warn(
        `upstream ${upstream.slug}: the credential sent as header ${badHeader} has a character no HTTP header may carry (${code ?? 'invalid'}); it must be replaced`,
      );
      ctx.failure = { type: 'upstream.credential', reason: `the credential for header ${badHeader} cannot be sent as an HTTP header` };
      if (res.headersSent) return void res.destroy();
      return sendJson(res, 502, jsonRpcError(-32002, this.credentials.unsendableCredentialHint(upstream), rpcId));
    }
    this.logger.error(`could not forward ${req.method} to upstream ${upstream.slug}: ${code ?? (err as Error | undefined)?.name ?? 'unknown error'}`);
    if (res.headersSent) return void res.destroy();
    sendJson(res, 502, jsonRpcError(-32002, `the gateway could not forward the request to ${upstream.name}`, rpcId));
  }

  private refuseHost(req: http.IncomingMessage, res: http.ServerResponse): void {
    const host = String(req.headers.host).slice(0, 100);
    if (!this.refusedHostsLogged.has(host)) {
      this.refusedHostsLogged.set(host, true);
      this.logger.warn(
        `refused /mcp requests for Host ${JSON.stringify(host)}: not ${this.hosts.expectedHost} (the public URL's). ` +
          'Behind a reverse proxy, pass the original Host on, or add the name to server.allowed_hosts.',
      );
    }
    sendJson(res, 403, jsonRpcError(-32600, `host not allowed: address this gateway as ${this.hosts.expectedHost}`));
  }

  /** RFC 6750 §3.1 + RFC 9728 §5: a 401 that leads the client to discovery and /authorize. */
  private denyToken(res: http.ServerResponse, upstream: Upstream, error?: string, description?: string): null {
    const resourceMetadata = this.config.resourceMetadataUrl(upstream.slug);
    const challenge = bearerChallenge({ error, description, resourceMetadata, scope: upstream.scopes.join(' ') });
    sendJson(
      res,
      401,
      { error: error ?? 'unauthorized', error_description: description ?? 'authorization required' },
      {
        'WWW-Authenticate': challenge,
      },
    );
    return null;
  }

  private async authenticate(req: http.IncomingMessage, res: http.ServerResponse, upstream: Upstream): Promise<AccessTokenInfo | null> {
    const deny = (error?: string, description?: string) => this.denyToken(res, upstream, error, description);
    const header = req.headers.authorization;
    if (!header) return deny();
    const match = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i.exec(header);
    if (!match) return deny('invalid_request', 'malformed Authorization header');
    const info = await this.grants.verifyAccessToken(match[1]);
    if (!info) {
      const owner = await this.grants.expiredAccessTokenOwner(match[1]);
      if (owner) this.recordUnauthorized(req, upstream, owner, 'expired');
      return deny('invalid_token', 'the access token is invalid, expired or revoked');
    }
    // RFC 8707: a token is bound to one upstream and is useless at any other.
    if (info.upstreamSlug !== upstream.slug) {
      this.recordUnauthorized(req, upstream, info, 'audience', info.upstreamSlug);
      return deny('invalid_token', 'the access token was issued for another resource');
    }
    return info;
  }

  /**
   * A 401 the gateway can attribute (an expired token it still knows; a token of another upstream),
   * for the connection doctor. Unknown tokens write nothing: anyone can send those.
   */
  private recordUnauthorized(req: http.IncomingMessage, upstream: Upstream, owner: { clientId: string; userId: string }, reason: string, tokenUpstream?: string): void {
    this.audit.record({
      type: 'mcp.unauthorized',
      outcome: 'failure',
      userId: owner.userId,
      clientId: owner.clientId,
      upstreamSlug: upstream.slug,
      status: 401,
      ip: req.socket.remoteAddress ?? null,
      detail: { reason, ...(tokenUpstream ? { token_upstream: tokenUpstream } : {}) },
    });
  }

  /**
   * Reads the body the upstream will execute (scope-gate.ts; headers are routing hints, never an
   * authority), for the scope check and the tool policy: null for a request without a body,
   * false when the request was answered (refused, or the client's stream failed).
   */
  private async readRequest(req: ProxiedRequest, res: http.ServerResponse, ctx: ProxyContext): Promise<GatedBody | null | false> {
    try {
      const gated = await gateRequestBody(req, MAX_CHECKED_BODY);
      if (gated) {
        ctx.rpcId = gated.rpcId;
        ctx.bodyRead = true;
        ctx.body = gated.body;
        if (gated.methods[0] === 'tools/call') {
          ctx.tool = toolNameOfBody(gated.body);
          ctx.toolCall = capturedBody(gated.body);
        }
        if (gated.methods.length) ctx.mcpMethod = gated.methods.length > 1 ? `batch:${gated.methods[0]}` : gated.methods[0];
        replayBody(req, gated.body);
      }
      return gated;
    } catch (err) {
      if (!(err instanceof GateRefusal)) {
        res.destroy(); // reading the client's body failed: it is gone
        return false;
      }
      sendJson(res, err.status, jsonRpcError(err.code, err.message, err.rpcId), err.headers);
      this.recordRequest(req, res, ctx, 'request.malformed');
      return false;
    }
  }

  /**
   * For a token holding only some of the upstream's scopes: answer 403 insufficient_scope when the
   * body's methods need more (RFC 6750 §3.1). Tokens with every scope skip this.
   */
  private checkScope(req: ProxiedRequest, res: http.ServerResponse, ctx: ProxyContext, granted: string[], methods: string[] | null): boolean {
    const missing = requiredScope(req.method ?? 'GET', methods, ctx.upstream).filter((s) => !granted.includes(s));
    if (!missing.length) return true;
    const scope = [...new Set([...granted, ...missing])].join(' ');
    const challenge = bearerChallenge({
      error: 'insufficient_scope',
      description: `this request needs the scope ${missing.join(' ')}`,
      scope,
      resourceMetadata: this.config.resourceMetadataUrl(ctx.upstream.slug),
    });
    sendJson(
      res,
      403,
      { error: 'insufficient_scope', error_description: `this request needs the scope ${missing.join(' ')}` },
      {
        'WWW-Authenticate': challenge,
      },
    );
    this.recordRequest(req, res, ctx, 'scope.deny');
    return false;
  }

  /**
   * Tool policy and pinning (tool-policy/): a tools/call of a tool this caller may not use is
   * answered here with a JSON-RPC error and never reaches the upstream; a tools/list is marked so
   * that its response is filtered (proxyRes).
   */
  private async checkTools(req: ProxiedRequest, res: http.ServerResponse, ctx: ProxyContext, gated: GatedBody | null): Promise<boolean> {
    const plan = await this.toolGate.planRequest(ctx.upstream.slug, ctx.token.userId, gated?.messages ?? []);
    const refusal = plan.refusal;
    if (refusal) {
      ctx.tool = refusal.tool.slice(0, 128) || null;
      ctx.failure = { type: refusal.type, reason: String(refusal.detail.message) };
      // 200: a JSON-RPC error answers the call (the client hands it to the model); an HTTP error
      // status would read as a transport failure.
      sendJson(res, 200, refusal.body);
      this.recordRequest(req, res, ctx, refusal.type, refusal.detail);
      return false;
    }
    ctx.toolPlan = plan;
    // The gateway rewrites tools/list responses, so it asks for them unencoded (RFC 9110 §12.5.3).
    if (this.toolsLists.mayRewrite(req, plan)) req.headers['accept-encoding'] = 'identity';
    return true;
  }

  private proxyFor(upstream: Upstream, fresh = false, target = upstream.url): RequestHandler {
    const proxies = fresh ? this.freshProxies : this.proxies;
    let proxy = proxies.get(upstream.slug);
    if (!proxy) {
      proxy = this.createProxy(upstream, fresh, target);
      proxies.set(upstream.slug, proxy);
    }
    return proxy;
  }

  /**
   * RFC 9110 §9.2.2 and RFC 9112 §9.3.1: a request may be retried automatically only when it
   * cannot have been applied. A connection reset on a pooled keep-alive socket before any
   * response byte is the race of the upstream closing that idle socket as the gateway reuses
   * it: the upstream never read the request. It is retried once, on a new connection, when the
   * body can be sent again: no body yet consumed from the client, or one the gateway buffered
   * (scope check). A streamed body that has begun flowing is gone, so it is never retried.
   */
  private mayRetry(req: ProxiedRequest, ctx: ProxyContext, code: string | undefined): boolean {
    return !ctx.retried && !ctx.timedOut && ctx.reusedSocket === true && (code === 'ECONNRESET' || code === 'EPIPE') && (ctx.bodyRead || !req.readableDidRead);
  }

  /** Pooled or fresh (the one retry); SSRF-guarded for console upstreams. */
  private agentFor(upstream: Upstream, fresh: boolean, target: string): http.Agent {
    const protocol = new URL(target).protocol === 'https:' ? 'https:' : 'http:';
    if (upstream.guarded) return (fresh ? this.freshGuardedAgents : this.guardedAgents)[protocol];
    if (protocol === 'https:') return fresh ? this.freshHttpsAgent : this.httpsAgent;
    return fresh ? this.freshHttpAgent : this.httpAgent;
  }

  private createProxy(upstream: Upstream, fresh: boolean, target: string): RequestHandler {
    return createProxyMiddleware({
      target,
      changeOrigin: true,
      ignorePath: true,
      xfwd: true,
      agent: this.agentFor(upstream, fresh, target),
      // No proxyTimeout: http-proxy arms it after the proxyReq hook runs, so a GET could not be
      // exempted; the hook below sets the timeout itself.
      // The response head is written here (proxyRes below), so that only forwardable headers
      // reach the client and the upstream's own response headers stay intact for node's agent
      // (it reads the upstream's Keep-Alive hint from them when the socket goes back to the pool).
      selfHandleResponse: true,
      // The default plugins minus the logger's, which parses a URL on every response even with
      // logging off; the error-response plugin is left out anyway, as `on.error` answers errors.
      ejectPlugins: true,
      plugins: [debugProxyErrorsPlugin, proxyEventsPlugin],
      on: {
        start: (req) => {
          const ctx = (req as ProxiedRequest).gatehouse!;
          // On a retry the first attempt's sniffer is still waiting for the first chunk.
          if (ctx.bodyRead || ctx.retried) return;
          sniffMcpMethod(req, (method, id, tool, capture) => {
            ctx.mcpMethod = method;
            ctx.rpcId = id;
            ctx.tool = tool;
            ctx.toolCall = capture;
          });
        },
        proxyReq: (proxyReq, req) => {
          const ctx = (req as ProxiedRequest).gatehouse!;
          ctx.reusedSocket = proxyReq.reusedSocket;
          // An open GET stream may rightly stay silent for a long time; only requests time out,
          // after `timeout` without any byte from the upstream (a socket idle timeout).
          if (req.method !== 'GET') {
            proxyReq.setTimeout(upstream.timeoutMs, () => {
              ctx.timedOut = true;
              proxyReq.destroy();
            });
          }
        },
        proxyRes: (proxyRes, req, res) => {
          const ctx = (req as ProxiedRequest).gatehouse!;
          // The client left while the upstream was working: nobody reads this response.
          if (res.destroyed) return void proxyRes.destroy();
          let status = proxyRes.statusCode ?? 502;
          // The upstream no longer takes our credential for this user (oauth: refresh it before the next request).
          if (status === 401) this.credentials.onUpstreamUnauthorized(upstream, ctx.token.userId);
          // The upstream refusing the gateway's own credential is a gateway-side fault, not
          // a reason for the client to re-authorize with us.
          if (status === 401 || status === 403) status = 502;
          const eventStream = String(proxyRes.headers['content-type'] ?? '').startsWith('text/event-stream');
          try {
            copyResponseHeaders(proxyRes.headers, res, STRIPPED_RESPONSE_HEADERS);
            if (eventStream) {
              res.setHeader('x-accel-buffering', 'no');
              res.setHeader('cache-control', 'no-cache');
            }
          } catch (err) {
            // Not expected (node's parser admits only header values node can write), but a throw
            // here would escape into the socket's parser: answer instead.
            this.logger.warn(`upstream ${upstream.slug} sent a response header that cannot be forwarded (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
            proxyRes.destroy();
            for (const name in proxyRes.headers) res.removeHeader(name);
            return sendJson(res, 502, jsonRpcError(-32002, `upstream ${upstream.slug} sent an invalid response`, (ctx.rpcId ?? null) as string | number | null));
          }
          // The status line's reason phrase is not copied: node writes the standard one (RFC 9112 §4).
          res.statusCode = status;
          // An upstream with tool rules or pinning: tools/list results are filtered on their way (tools-list-responses.ts).
          let body: NodeJS.ReadableStream = proxyRes;
          if (ctx.toolPlan && status === 200 && this.toolsLists.mayRewrite(req, ctx.toolPlan)) {
            const rewritten = this.toolsLists.rewrite(proxyRes, req, res, ctx.toolPlan, upstream.slug, eventStream);
            if (!rewritten) return;
            body = rewritten;
          }
          // An event stream may stay silent for long: the client gets its head at the end of this
          // turn of the event loop, not with the first event. Not at once: the upstream's first
          // event usually came in the same read as its head, and then the head goes out with it
          // in one write (as a plain reverse proxy sends them), not in a write of its own.
          if (eventStream) setImmediate(flushHead, res);
          // pipe() does not end the client's response when the upstream's breaks off: without
          // this, a client would wait forever on a 200 stream (e.g. SSE) that can no longer
          // finish. Destroying it tells the client at once that the response is incomplete
          // (an HTTP/1.1 chunked body without its last chunk), and it may reconnect.
          proxyRes.once('close', () => {
            if (proxyRes.complete || res.destroyed || res.writableFinished) return;
            ctx.failure = ctx.timedOut
              ? { type: 'upstream.timeout', reason: `the upstream sent nothing for ${upstream.timeoutMs / 1000} s in the middle of its response` }
              : { type: 'upstream.aborted', reason: 'the upstream closed its connection before its response was complete' };
            this.logger.warn(`upstream ${upstream.slug}: ${ctx.failure.reason} (${req.method}); cut off the client's response too`);
            res.destroy();
          });
          body.pipe(res);
        },
        error: (err, req, res) => {
          const ctx = (req as ProxiedRequest).gatehouse;
          const out = res as http.ServerResponse;
          if (!('headersSent' in out) || !ctx) return;
          if (out.headersSent) return void out.destroy();
          const code = (err as NodeJS.ErrnoException).code;
          const connection = ctx.reusedSocket ? 'a reused keep-alive connection' : 'a new connection';
          if (this.mayRetry(req, ctx, code)) {
            ctx.retried = true;
            this.logger.warn(
              `upstream ${upstream.slug}: ${code} on ${connection} before any response (the upstream likely closed it as idle); retrying ${req.method} once on a new connection`,
            );
            return void this.proxyFor(upstream, true, ctx.target)(req, out, (e?: unknown) => this.forwardFailed(req, out, upstream, e));
          }
          const timedOut = ctx.timedOut || code === 'ETIMEDOUT';
          const retried = ctx.retried ? ', after one retry' : '';
          this.logger.warn(`upstream ${upstream.slug} ${timedOut ? 'timed out' : 'failed'} on ${req.method}: ${code ?? err.name} on ${connection}${retried}`);
          const rpcId = (ctx.rpcId ?? null) as string | number | null;
          ctx.errorKind = timedOut ? 'upstream.timeout' : 'upstream.unreachable';
          if (timedOut) sendJson(out, 504, jsonRpcError(-32001, `upstream ${upstream.slug} timed out`, rpcId));
          else sendJson(out, 502, jsonRpcError(-32002, `upstream ${upstream.slug} is unreachable`, rpcId));
        },
      },
    });
  }

  private recordRequest(req: ProxiedRequest, res: http.ServerResponse, ctx: ProxyContext, type: AuditEventType = 'mcp.request', detail?: Record<string, unknown>): void {
    const elapsedMs = performance.now() - ctx.started;
    // Digested now that the exchange is over (never while the request streams).
    const call = ctx.toolCall ? toolCallAudit(ctx.toolCall, ctx.upstream.toolArguments) : null;
    if (call && !ctx.tool) ctx.tool = call.tool;
    const record: AuditRecord = {
      type,
      outcome: res.statusCode < 400 && !ctx.failure ? 'success' : 'failure',
      userId: ctx.token.userId,
      clientId: ctx.token.clientId,
      upstreamSlug: ctx.upstream.slug,
      mcpMethod: ctx.mcpMethod ?? req.method ?? null,
      tool: ctx.tool ?? null,
      toolArguments: call?.toolArguments ?? null,
      status: res.statusCode,
      durationMs: Math.round(elapsedMs),
      ip: req.socket.remoteAddress ?? null,
      detail: detail ?? null,
    };
    this.audit.record(record);
    this.telemetry.requestDone(req, record, ctx, elapsedMs);
  }
}
