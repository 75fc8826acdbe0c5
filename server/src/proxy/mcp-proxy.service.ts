import http from 'node:http';
import https from 'node:https';
import { Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { createProxyMiddleware, RequestHandler } from 'http-proxy-middleware';
import { AuditService } from '../audit/audit.service';
import { ConfigService } from '../config/config.service';
import { AccessTokenInfo } from '../oauth/access-token.cache';
import { TokensService } from '../oauth/tokens.service';
import { Upstream } from '../upstreams/upstream';
import { AccessPolicyService } from '../upstreams/access-policy.service';
import { UpstreamCredentialsService } from '../upstreams/upstream-credentials.service';
import { UpstreamAuthUnavailableError } from '../upstreams/upstream-oauth/upstream-oauth.service';
import { UpstreamsService } from '../upstreams/upstreams.service';
import { bearerChallenge, jsonRpcError, sendJson } from './challenge';
import { CorsPolicy } from '../common/cors';
import { sniffMcpMethod } from './mcp-method';
import { GateRefusal } from './gate-refusal';
import { replayBody } from './request-body';
import { RateLimiter } from './rate-limiter';
import { requiredScope } from './required-scope';
import { gateRequestBody } from './scope-gate';

type ProxiedRequest = http.IncomingMessage & { gatehouse?: ProxyContext };

interface ProxyContext {
  upstream: Upstream;
  token: AccessTokenInfo;
  started: number;
  mcpMethod: string | null;
  rpcId: unknown;
  /** True once the gateway read the body itself (scope check), so no sniffing is needed. */
  bodyRead: boolean;
  timedOut: boolean;
}

/** A body read for a scope check is held in memory: JSON-RPC requests are small. */
const MAX_CHECKED_BODY = 4 * 1024 * 1024;

const METHODS = 'GET, POST, DELETE, OPTIONS';
const SLUG_PATH = /^\/mcp\/([a-z0-9][a-z0-9-]*)\/?(?:\?.*)?$/;
/** The proxy's own paths: /mcp and everything below it. */
export const isMcpPath = (url: string | undefined) => !!url && (url === '/mcp' || url.startsWith('/mcp/') || url.startsWith('/mcp?'));
/** Never forwarded upstream: the client's gateway credentials and browser state. */
const STRIPPED_REQUEST_HEADERS = ['authorization', 'cookie', 'proxy-authorization'];
/** Never forwarded downstream: the upstream's own auth challenges and cookies. */
const STRIPPED_RESPONSE_HEADERS = ['www-authenticate', 'set-cookie', 'access-control-allow-origin', 'access-control-allow-credentials', 'access-control-expose-headers'];

/**
 * The resource server: /mcp/{slug} checks the bearer token and its audience,
 * swaps the client's credential for the upstream's, and streams both ways
 * through http-proxy-middleware without buffering.
 */
@Injectable()
export class McpProxyService implements OnModuleDestroy {
  private readonly logger = new Logger('Proxy');
  private readonly cors: CorsPolicy;
  private readonly proxies = new Map<string, RequestHandler>();
  /** Every proxied response still open, with the grant its token belongs to (revoking the grant cuts it). */
  private readonly inFlight = new Map<http.ServerResponse, string>();
  private readonly limiter: RateLimiter;
  private readonly httpAgent = new http.Agent({ keepAlive: true, maxSockets: 256, scheduling: 'lifo' });
  private readonly httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 256, scheduling: 'lifo' });

  constructor(
    private readonly tokens: TokensService,
    private readonly upstreams: UpstreamsService,
    private readonly policy: AccessPolicyService,
    private readonly credentials: UpstreamCredentialsService,
    private readonly audit: AuditService,
    private readonly config: ConfigService,
  ) {
    this.cors = new CorsPolicy(config.config.cors.allowed_origins);
    this.limiter = new RateLimiter(config.config.rate_limit.mcp_per_minute);
    tokens.onGrantRevoked((grantId) => this.cutStreamsOf(grantId));
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
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  private async route(req: ProxiedRequest, res: http.ServerResponse): Promise<void> {
    const started = performance.now();
    // MCP transport spec: servers must validate Origin to stop DNS rebinding.
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
    if (!token) return;

    const ctx: ProxyContext = { upstream, token, started, mcpMethod: null, rpcId: null, bodyRead: false, timedOut: false };
    req.gatehouse = ctx;
    const retryAfter = this.limiter.take(`${token.userId}:${upstream.slug}`);
    if (retryAfter) {
      sendJson(res, 429, jsonRpcError(-32004, 'too many requests; slow down'), { 'Retry-After': String(retryAfter) });
      return this.recordRequest(req, res, ctx, 'rate.limit');
    }
    if (!(await this.policy.allows(upstream, token.userId))) {
      sendJson(res, 403, jsonRpcError(-32003, `you are not allowed to use ${upstream.name}`));
      return this.recordRequest(req, res, ctx, 'policy.deny');
    }
    const granted = token.scope.split(' ');
    if (!upstream.scopes.every((s) => granted.includes(s)) && !(await this.checkScope(req, res, ctx, granted))) return;
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
      await this.tokens.revokeGrant(token.grantId, `upstream credential lost: ${credential.reauthorize}`);
      this.denyToken(res, upstream, 'invalid_token', `re-authorization needed: ${credential.reauthorize}`);
      return this.recordRequest(req, res, ctx, 'upstream.credential');
    }
    for (const name of STRIPPED_REQUEST_HEADERS) delete req.headers[name];
    Object.assign(req.headers, credential.headers);
    this.inFlight.set(res, token.grantId);
    res.once('close', () => {
      this.inFlight.delete(res);
      this.recordRequest(req, res, ctx);
    });
    this.proxyFor(upstream)(req as any, res as any, () => sendJson(res, 404, jsonRpcError(-32601, 'no such MCP server')));
  }

  /** RFC 6750 §3.1 + RFC 9728 §5: a 401 that leads the client to discovery and /authorize. */
  private denyToken(res: http.ServerResponse, upstream: Upstream, error?: string, description?: string): null {
    const resourceMetadata = this.config.resourceMetadataUrl(upstream.slug);
    const challenge = bearerChallenge({ error, description, resourceMetadata, scope: upstream.scopes.join(' ') });
    sendJson(res, 401, { error: error ?? 'unauthorized', error_description: description ?? 'authorization required' }, {
      'WWW-Authenticate': challenge,
    });
    return null;
  }

  private async authenticate(req: http.IncomingMessage, res: http.ServerResponse, upstream: Upstream): Promise<AccessTokenInfo | null> {
    const deny = (error?: string, description?: string) => this.denyToken(res, upstream, error, description);
    const header = req.headers.authorization;
    if (!header) return deny();
    const match = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i.exec(header);
    if (!match) return deny('invalid_request', 'malformed Authorization header');
    const info = await this.tokens.verifyAccessToken(match[1]);
    if (!info) return deny('invalid_token', 'the access token is invalid, expired or revoked');
    // RFC 8707: a token is bound to one upstream and is useless at any other.
    if (info.upstreamSlug !== upstream.slug) return deny('invalid_token', 'the access token was issued for another resource');
    return info;
  }

  /**
   * For a token holding only some of the upstream's scopes: read the body the upstream
   * will execute (scope-gate.ts; headers are routing hints, never an authority) and
   * answer 403 insufficient_scope when its methods need more (RFC 6750 §3.1).
   * Tokens with every scope skip this and stream without any buffering.
   */
  private async checkScope(req: ProxiedRequest, res: http.ServerResponse, ctx: ProxyContext, granted: string[]): Promise<boolean> {
    let methods: string[] | null = null;
    try {
      const gated = await gateRequestBody(req, MAX_CHECKED_BODY);
      if (gated) {
        ({ methods, rpcId: ctx.rpcId } = gated);
        ctx.bodyRead = true;
        replayBody(req, gated.body);
      }
    } catch (err) {
      if (!(err instanceof GateRefusal)) {
        res.destroy(); // reading the client's body failed: it is gone
        return false;
      }
      sendJson(res, err.status, jsonRpcError(err.code, err.message, err.rpcId), err.headers);
      this.recordRequest(req, res, ctx, 'request.malformed');
      return false;
    }
    if (methods?.length) ctx.mcpMethod = methods.length > 1 ? `batch:${methods[0]}` : methods[0];
    const missing = requiredScope(req.method ?? 'GET', methods, ctx.upstream).filter((s) => !granted.includes(s));
    if (!missing.length) return true;
    const scope = [...new Set([...granted, ...missing])].join(' ');
    const challenge = bearerChallenge({
      error: 'insufficient_scope',
      description: `this request needs the scope ${missing.join(' ')}`,
      scope,
      resourceMetadata: this.config.resourceMetadataUrl(ctx.upstream.slug),
    });
    sendJson(res, 403, { error: 'insufficient_scope', error_description: `this request needs the scope ${missing.join(' ')}` }, {
      'WWW-Authenticate': challenge,
    });
    this.recordRequest(req, res, ctx, 'scope.deny');
    return false;
  }

  private proxyFor(upstream: Upstream): RequestHandler {
    let proxy = this.proxies.get(upstream.slug);
    if (!proxy) {
      proxy = this.createProxy(upstream);
      this.proxies.set(upstream.slug, proxy);
    }
    return proxy;
  }

  private createProxy(upstream: Upstream): RequestHandler {
    const target = new URL(upstream.url);
    return createProxyMiddleware({
      target: upstream.url,
      changeOrigin: true,
      ignorePath: true,
      xfwd: true,
      agent: target.protocol === 'https:' ? this.httpsAgent : this.httpAgent,
      proxyTimeout: upstream.timeoutMs,
      on: {
        start: (req) => {
          const ctx = (req as ProxiedRequest).gatehouse!;
          if (ctx.bodyRead) return;
          sniffMcpMethod(req, (method, id) => {
            ctx.mcpMethod = method;
            ctx.rpcId = id;
          });
        },
        proxyReq: (proxyReq, req) => {
          const ctx = (req as ProxiedRequest).gatehouse!;
          // An open GET stream may rightly stay silent for a long time; only requests time out.
          if (req.method === 'GET') proxyReq.setTimeout(0);
          else proxyReq.once('timeout', () => (ctx.timedOut = true));
        },
        proxyRes: (proxyRes, req) => {
          for (const name of STRIPPED_RESPONSE_HEADERS) delete proxyRes.headers[name];
          const status = proxyRes.statusCode ?? 502;
          const ctx = (req as ProxiedRequest).gatehouse!;
          // The upstream no longer takes our credential for this user (oauth: refresh it before the next request).
          if (status === 401) this.credentials.onUpstreamUnauthorized(upstream, ctx.token.userId);
          // The upstream refusing the gateway's own credential is a gateway-side fault, not
          // a reason for the client to re-authorize with us.
          if (status === 401 || status === 403) proxyRes.statusCode = 502;
          if (String(proxyRes.headers['content-type'] ?? '').startsWith('text/event-stream')) {
            proxyRes.headers['x-accel-buffering'] = 'no';
            proxyRes.headers['cache-control'] = 'no-cache';
          }
        },
        error: (err, req, res) => {
          const ctx = (req as ProxiedRequest).gatehouse;
          const out = res as http.ServerResponse;
          if (!('headersSent' in out)) return;
          if (out.headersSent) return void out.destroy();
          const timedOut = ctx?.timedOut || (err as NodeJS.ErrnoException).code === 'ETIMEDOUT';
          const rpcId = (ctx?.rpcId ?? null) as string | number | null;
          if (timedOut) sendJson(out, 504, jsonRpcError(-32001, `upstream ${upstream.slug} timed out`, rpcId));
          else sendJson(out, 502, jsonRpcError(-32002, `upstream ${upstream.slug} is unreachable`, rpcId));
        },
      },
    });
  }

  private recordRequest(req: ProxiedRequest, res: http.ServerResponse, ctx: ProxyContext, type = 'mcp.request'): void {
    this.audit.record({
      type,
      outcome: res.statusCode < 400 ? 'success' : 'failure',
      userId: ctx.token.userId,
      clientId: ctx.token.clientId,
      upstreamSlug: ctx.upstream.slug,
      mcpMethod: ctx.mcpMethod ?? req.method ?? null,
      status: res.statusCode,
      durationMs: Math.round(performance.now() - ctx.started),
      ip: req.socket.remoteAddress ?? null,
    });
  }
}
