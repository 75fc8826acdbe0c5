import { ArgumentsHost, Catch, ExceptionFilter } from '@nestjs/common';
import { ThrottlerException } from '@nestjs/throttler';
import type { Response } from 'express';
import { ConfigService } from '../config/config.service';
import { tooManyAttemptsPage } from './error.pages';

/** Pages a person sees answer a rate limit with a page, not JSON. */
@Catch(ThrottlerException)
export class BrowserThrottleFilter implements ExceptionFilter {
  constructor(private readonly config: ConfigService) {}

  catch(_exception: ThrottlerException, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<Response>();
    res.status(429).setHeader('Retry-After', '60').type('html').send(tooManyAttemptsPage(this.config.basePath));
  }
}
