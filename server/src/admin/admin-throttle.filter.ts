import { ArgumentsHost, Catch, ExceptionFilter } from '@nestjs/common';
import { ThrottlerException } from '@nestjs/throttler';
import type { Response } from 'express';
import { ADMIN_THROTTLER } from './admin-throttler';

/** The admin API's 429 in its own error shape, with Retry-After (RFC 9110 §10.2.3) from the throttler. */
@Catch(ThrottlerException)
export class AdminThrottleFilter implements ExceptionFilter {
  catch(_exception: ThrottlerException, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<Response>();
    // @nestjs/throttler names the header after the throttler that refused.
    const retryAfter = res.getHeader(`Retry-After-${ADMIN_THROTTLER}`) ?? res.getHeader('Retry-After') ?? '60';
    res.status(429).setHeader('Retry-After', String(retryAfter)).json({ error: 'rate_limited', message: 'too many admin requests from this address; try again shortly' });
  }
}
