import { ArgumentsHost, Catch, ExceptionFilter } from '@nestjs/common';
import { ThrottlerException } from '@nestjs/throttler';
import type { Response } from 'express';
import { html, page } from './html';

/** Pages a person sees answer a rate limit with a page, not JSON. */
@Catch(ThrottlerException)
export class BrowserThrottleFilter implements ExceptionFilter {
  catch(_exception: ThrottlerException, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<Response>();
    res
      .status(429)
      .setHeader('Retry-After', '60')
      .type('html')
      .send(page('Too many attempts', html`<h1>Too many attempts</h1><p class="error" role="alert">Too many requests from your address. Wait a minute, then try again.</p>`));
  }
}
