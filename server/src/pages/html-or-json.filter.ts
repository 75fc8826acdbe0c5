import { ArgumentsHost, Catch, HttpException, Logger } from '@nestjs/common';
import { BaseExceptionFilter } from '@nestjs/core';
import type { Request, Response } from 'express';
import { ConfigService } from '../config/config.service';
import { httpErrorPage } from './error.pages';

/** Routes that answer JSON whatever the Accept header says: the admin API and the health probe. */
const JSON_ROUTES = /^\/(admin\/api|healthz)(\/|$)/;

/**
 * The app-wide exception filter; a controller's own filters come first (the OAuth endpoints'
 * RFC 6749 §5.2 error JSON, the throttle page of the sign-in and consent steps). A browser
 * (its Accept prefers text/html) gets a page in the layout, e.g. a real 404 page for an unknown
 * address; everyone else, and every JSON route, gets Nest's JSON shape
 * ({statusCode, message, error}) unchanged. Neither carries a stack trace: that goes to the log.
 */
@Catch()
export class HtmlOrJsonExceptionFilter extends BaseExceptionFilter {
  private readonly logger = new Logger('ExceptionsHandler');

  constructor(private readonly config: ConfigService) {
    super();
  }

  override catch(exception: unknown, host: ArgumentsHost): void {
    if (host.getType() !== 'http') return super.catch(exception, host);
    const http = host.switchToHttp();
    const req = http.getRequest<Request>();
    const res = http.getResponse<Response>();
    if (res.headersSent || !wantsPage(req)) return super.catch(exception, host);
    // Logged as Nest's own handler logs it (HttpExceptions are answers, not faults).
    if (!(exception instanceof HttpException)) this.logger.error(exception);
    const status = statusOf(exception);
    res.status(status).type('html').send(httpErrorPage(this.config.basePath, status));
  }
}

function wantsPage(req: Request): boolean {
  return !JSON_ROUTES.test(req.path) && req.accepts(['application/json', 'text/html']) === 'text/html';
}

function statusOf(exception: unknown): number {
  if (exception instanceof HttpException) return exception.getStatus();
  // Errors from Express middleware (http-errors, e.g. of express.static) carry their own status.
  const status = (exception as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === 'number' && status >= 400 && status < 600 ? status : 500;
}
