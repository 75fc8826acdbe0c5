import { CallHandler, ExecutionContext, Injectable, NestInterceptor } from '@nestjs/common';
import type { ServerResponse } from 'node:http';
import type { Observable } from 'rxjs';

/**
 * Responses that carry codes, tokens, client secrets or a user's own pages must not be stored by
 * any cache (RFC 6749 §5.1 asks for both headers on token responses; Pragma is for HTTP/1.0 caches).
 */
export function setNoStore(res: ServerResponse): void {
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Pragma', 'no-cache');
}

/**
 * `@UseInterceptors(NoStore)`: marks every answer of a controller or route uncacheable. The
 * headers are set before the handler runs, so error responses written by exception filters
 * carry them too.
 */
@Injectable()
export class NoStore implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    setNoStore(context.switchToHttp().getResponse<ServerResponse>());
    return next.handle();
  }
}
