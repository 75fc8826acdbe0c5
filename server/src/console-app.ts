import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ServerResponse } from 'node:http';
import type { NestExpressApplication } from '@nestjs/platform-express';
import express, { NextFunction, Request, Response } from 'express';

const STATIC_FILE = /\.(m?js|css|map|svg|png|ico|jpe?g|webp|woff2?|json|txt|webmanifest)$/i;
/** Asset URLs of the built index.html: relative (`./assets/x.js`, Vite `base: './'`) or from an older build, absolute under /admin/. */
const ASSET_URL = /(\s(?:src|href))="(?:\.\/|\/admin\/)/g;

/**
 * The admin console (`web/`, built to dist/web) at /admin/. One build serves any base path
 * (common/base-path.ts): Vite builds with relative asset URLs, and index.html is answered with
 * them made absolute under `<base>/admin/` (it is answered at every depth, /admin/users/42 too)
 * and with `<meta name="gatehouse-base-path">`, which the app reads for its router, API and
 * sign-in addresses (web/src/lib/base-path.js).
 */
export function serveConsole(app: NestExpressApplication, basePath: string): void {
  const webDist = join(__dirname, '..', '..', 'dist', 'web');
  const webRoot = existsSync(webDist) ? webDist : join(process.cwd(), 'dist', 'web');
  const indexFile = join(webRoot, 'index.html');
  const sendIndex = consoleIndex(indexFile, basePath);
  app.use('/admin', (req: Request, res: Response, next: NextFunction) => {
    // /admin without its slash: relative URLs must resolve under /admin/ (what serve-static's own redirect does, with the base path).
    if (req.path === '/' && !req.originalUrl.split('?')[0].endsWith('/')) return res.redirect(301, `${basePath}/admin/`);
    if (req.path === '/index.html') return sendIndex(req, res, next);
    next();
  });
  app.use('/admin', express.static(webRoot, { index: false, redirect: false, fallthrough: true, setHeaders: consoleCacheHeaders }));
  app.use('/admin', consoleAppFallback(sendIndex));
}

/** Vite names built assets by content hash, so they never change; index.html (which names them) must be revalidated. */
function consoleCacheHeaders(res: ServerResponse, filePath: string): void {
  const hashed = /[\\/]assets[\\/][^\\/]+$/.test(filePath);
  res.setHeader('Cache-Control', hashed ? 'public, max-age=31536000, immutable' : 'no-cache');
}

/** index.html with the base path in its asset URLs and in the meta tag the app reads. */
function consoleIndex(indexFile: string, basePath: string) {
  return (req: Request, res: Response, next: NextFunction) => {
    readFile(indexFile, 'utf8').then(
      (html) => {
        const page = html
          .replace(ASSET_URL, `$1="${basePath}/admin/`)
          // basePath is letters, digits and . _ ~ - only (common/base-path.ts): nothing to escape.
          .replace(/<head>/i, `<head>\n    <meta name="gatehouse-base-path" content="${basePath}" />`);
        res.setHeader('Cache-Control', 'no-cache');
        res.type('html').send(page);
      },
      // Not built: a plain 404, as for any missing file.
      () => next(),
    );
  };
}

/**
 * The console routes on the client (history API under /admin/), so a reload or a shared link of
 * /admin/users must load the app: every other GET of /admin/* answers index.html. Not /admin/api
 * (the admin API's controllers, mounted by Nest after this pipeline, answer there, JSON 404
 * included), and not a missing asset or file (under /assets/ or with a static file's extension),
 * which stays a real 404 rather than HTML where a script or image was expected.
 */
function consoleAppFallback(sendIndex: (req: Request, res: Response, next: NextFunction) => void) {
  return (req: Request, res: Response, next: NextFunction) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    if (/^\/api(\/|$)/.test(req.path) || /^\/assets(\/|$)/.test(req.path) || STATIC_FILE.test(req.path)) return next();
    sendIndex(req, res, next);
  };
}
