import { ArgumentsHost, Catch, ExceptionFilter, UnauthorizedException } from '@nestjs/common';
import type { Request, Response } from 'express';
import { ConfigService } from '../config/config.service';
import { signInUrl } from './return-to';

/** Thrown by SessionGuard on a `@BrowserPage()` route when nobody is signed in. */
export class SignInRequired extends UnauthorizedException {
  /** `returnTo`: the route's path (and query), without the base path. */
  constructor(readonly returnTo: string) {
    super({ error: 'unauthorized' });
  }
}

/** Sends the browser to the sign-in page, which brings it back to where it was going. */
@Catch(SignInRequired)
export class SignInRedirectFilter implements ExceptionFilter {
  constructor(private readonly config: ConfigService) {}

  catch(exception: SignInRequired, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const req = http.getRequest<Request>();
    // After a form post, 303 makes the browser GET the sign-in page (RFC 9110 §15.4.4).
    const status = req.method === 'GET' || req.method === 'HEAD' ? 302 : 303;
    http.getResponse<Response>().redirect(status, signInUrl(this.config.basePath, this.config.publicPath(exception.returnTo)));
  }
}
