import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import { ThrottlerException } from '@nestjs/throttler';
import type { Response } from 'express';
import { setNoStore } from '../common/no-store';
import { InvalidClient, OAuthError, TooManyRequests } from './oauth.errors';

/** Renders errors of the JSON OAuth endpoints as RFC 6749 §5.2 error bodies, never a stack trace. */
@Catch()
export class OAuthErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('OAuth');

  catch(exception: unknown, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<Response>();
    const error = toOAuthError(exception);
    if (error.status >= 500) this.logger.error((exception as Error)?.stack ?? String(exception));
    setNoStore(res);
    if (error instanceof InvalidClient && error.triedBasic) {
      res.setHeader('WWW-Authenticate', 'Basic realm="gatehouse", charset="UTF-8"');
    }
    if (error instanceof TooManyRequests && error.retryAfterSeconds) res.setHeader('Retry-After', String(error.retryAfterSeconds));
    res.status(error.status).json(error.toJSON());
  }
}

function toOAuthError(exception: unknown): OAuthError {
  if (exception instanceof OAuthError) return exception;
  if (exception instanceof ThrottlerException) return new OAuthError('too_many_requests', 'rate limit exceeded', 429);
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    if (status === 404) return new OAuthError('not_found', 'no such endpoint', 404);
    if (status === 405) return new OAuthError('invalid_request', 'method not allowed', 405);
    if (status < 500) return new OAuthError('invalid_request', exception.message, status);
  }
  return new OAuthError('server_error', 'internal error', 500);
}
