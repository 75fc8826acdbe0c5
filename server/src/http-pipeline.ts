import type { NestExpressApplication } from '@nestjs/platform-express';
import cookieParser from 'cookie-parser';
import express, { NextFunction, Request, Response } from 'express';
import helmet from 'helmet';
import { basePathOf, gatewayPath } from './common/base-path';
import { CorsPolicy } from './common/cors';
import { serveConsole } from './console-app';
import { setNoStore } from './common/no-store';
import { LoadedConfig } from './config/config.loader';
import { jsonTooDeep } from './common/json-depth';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isMcpPath, McpProxyService } from './proxy/mcp-proxy.service';
import { BundleEndpoint } from './bundle/bundle-endpoint';
import { isBundlePath } from './bundle/bundle-resource';

const BODY_LIMIT = '64kb';
/** Far beyond any OAuth request (RFC 7591 metadata nests 2 deep); deeper bodies are refused before parsing. */
const MAX_JSON_DEPTH = 32;
/** Endpoints a browser-based MCP client (e.g. MCP Inspector) calls cross-origin. */
const CORS_PATHS = /^\/(register|token|revoke|introspect)\/?$/;

/**
 * Express middleware in the order that matters: the MCP proxy first, so no body
 * parser, helmet or compression ever touches a proxied stream; then the rest.
 */
export interface HttpPipeline {
  /** The node:http request listener: /mcp to the proxy, the rest to Express. Attach it once the app is initialised. */
  handleRequest: (req: IncomingMessage, res: ServerResponse) => void;
  close(): Promise<void>;
}

export function installHttpPipeline(app: NestExpressApplication, config: LoadedConfig): HttpPipeline {
  app.set('trust proxy', config.server.trust_proxy);
  app.disable('x-powered-by');
  const basePath = basePathOf(config.publicUrl);
  const handleRequest = routeMcpAroundExpress(app, basePath);

  // Loaded only when enabled: the MCP SDK is large, and a gateway without the demo needs none of it.
  // A require, not `await import()`: installHttpPipeline is synchronous, like the Express setup it does.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const demo = config.demo_upstream ? (require('./demo/demo-mcp') as typeof import('./demo/demo-mcp')).createDemoMcpHandler() : null;
  if (demo) app.use('/_demo/mcp', loopbackOnly, (req: Request, res: Response) => void demo.handle(req, res));

  const cors = new CorsPolicy(config.cors.allowed_origins, config.publicUrl);
  app.use(corsForOAuthEndpoints(cors));
  app.use(
    helmet({
      // The consent form redirects to the client's site after POST; a form-action
      // directive would make browsers block that redirect.
      // upgrade-insecure-requests would break the admin UI on a plain-http LAN address.
      contentSecurityPolicy: { directives: { 'form-action': null, 'script-src': ["'self'"], 'upgrade-insecure-requests': null } },
      crossOriginResourcePolicy: { policy: 'cross-origin' },
    }),
  );
  app.use(cookieParser());
  app.use(parseBodies());

  serveConsole(app, basePath);
  return { handleRequest, close: async () => demo?.close() };
}

/**
 * /mcp requests go from node:http straight to the proxy (/mcp itself to the bundle): Express never sees them, so no
 * router, body parser, helmet or compression touches a proxied stream, and the hot path
 * skips Express's per-request work. Everything else goes to the Nest (Express) app.
 *
 * Under a base path (PUBLIC_URL with a path), the request's path is first made the route's:
 * the prefix a proxy kept is dropped, and so is the base path inserted into a well-known URL
 * (common/base-path.ts), before anything (the proxy, Express, its req.originalUrl) reads it.
 * At the root the listener is the same as ever: nothing added per request.
 */
function routeMcpAroundExpress(app: NestExpressApplication, basePath: string): (req: IncomingMessage, res: ServerResponse) => void {
  const proxy = app.get(McpProxyService).handle;
  const bundle = app.get(BundleEndpoint).handle;
  const expressApp = app.getHttpAdapter().getInstance() as (req: IncomingMessage, res: ServerResponse) => void;
  const route = (req: IncomingMessage, res: ServerResponse) => {
    if (isMcpPath(req.url)) return isBundlePath(req.url) ? bundle(req, res) : proxy(req, res);
    expressApp(req, res);
  };
  if (!basePath) return route;
  return (req: IncomingMessage, res: ServerResponse) => {
    if (req.url) req.url = gatewayPath(req.url, basePath);
    route(req, res);
  };
}

function loopbackOnly(req: Request, res: Response, next: NextFunction): void {
  const ip = req.socket.remoteAddress ?? '';
  if (ip === '127.0.0.1' || ip === '::1' || ip === '::ffff:127.0.0.1') return next();
  res.status(403).json({ error: 'the demo MCP server is only reachable through the gateway' });
}

function corsForOAuthEndpoints(cors: CorsPolicy) {
  return (req: Request, res: Response, next: NextFunction) => {
    if (req.path.startsWith('/.well-known/')) {
      // Public, credential-free documents: any origin may read them.
      res.setHeader('Access-Control-Allow-Origin', '*');
      if (req.method === 'OPTIONS') {
        res.setHeader('Access-Control-Allow-Methods', 'GET, OPTIONS');
        res.setHeader('Access-Control-Allow-Headers', 'MCP-Protocol-Version, Content-Type');
        return void res.status(204).end();
      }
      return next();
    }
    if (!CORS_PATHS.test(req.path)) return next();
    const allowed = cors.apply(req, res, 'POST, OPTIONS');
    if (req.method === 'OPTIONS') return void res.status(allowed ? 204 : 403).end();
    next();
  };
}

/** JSON and form bodies, with malformed, oversized or too deeply nested ones answered in the OAuth error shape. */
function parseBodies() {
  const json = express.json({ limit: BODY_LIMIT, verify: checkJsonBody });
  const form = express.urlencoded({ extended: false, limit: BODY_LIMIT });
  return (req: Request, res: Response, next: NextFunction) => {
    json(req, res, (jsonErr?: unknown) => {
      if (jsonErr) return bodyError(req, res, jsonErr);
      form(req, res, (formErr?: unknown) => (formErr ? bodyError(req, res, formErr) : next()));
    });
  };
}

class BodyRefused extends Error {
  constructor(
    readonly type: string,
    readonly description: string,
  ) {
    super(description);
  }
}

/**
 * Runs on the raw bytes before JSON.parse: a deeply nested body would otherwise be built
 * in full and could break whatever later walks or stores it recursively.
 */
function checkJsonBody(_req: unknown, _res: unknown, buf: Buffer, encoding: string | null): void {
  // RFC 8259 §8.1: JSON exchanged between systems must be UTF-8 (the scan relies on it).
  if (encoding !== 'utf-8') throw new BodyRefused('charset.unsupported', 'JSON request bodies must be UTF-8 (RFC 8259 §8.1)');
  const tooDeep = jsonTooDeep(buf, MAX_JSON_DEPTH);
  if (tooDeep) {
    const where = tooDeep.key !== null ? ` (in "${tooDeep.key}")` : '';
    throw new BodyRefused('entity.too.deep', `request body nests deeper than ${MAX_JSON_DEPTH} levels${where}`);
  }
}

/** body-parser's errors carry a `type` (e.g. 'entity.too.large'); anything else passed on is an unknown. */
function bodyError(req: Request, res: Response, err: unknown): void {
  const tooLarge = typeof err === 'object' && err !== null && 'type' in err && err.type === 'entity.too.large';
  const description = err instanceof BodyRefused ? err.description : tooLarge ? `request body exceeds ${BODY_LIMIT}` : 'request body is not valid JSON or form data';
  const error = req.path.startsWith('/register') ? 'invalid_client_metadata' : 'invalid_request';
  // RFC 7591 §3.2.2 and RFC 6749 §5.2 both answer malformed requests with 400.
  res.status(400);
  setNoStore(res);
  // The admin API has its own error shape (admin/validation.ts).
  if (req.path.startsWith('/admin/api/')) return void res.json({ error, message: description });
  res.json({ error, error_description: description });
}
