import { applyDecorators, CanActivate, ExecutionContext, Injectable, SetMetadata, UnauthorizedException, UseFilters } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request, Response } from 'express';
import { ConfigService } from '../config/config.service';
import { rememberCurrentUser, resolvedCurrentUser } from './current-user';
import { LoginSessionService, SESSION_COOKIE } from './login-session.service';
import { SignInRedirectFilter, SignInRequired } from './sign-in-redirect.filter';

/**
 * What a route does with a request that has no valid session:
 * - 'api' (the default): 401 JSON `{"error":"unauthorized"}`, for the admin API and other JSON routes;
 * - 'page' (`@BrowserPage()`): redirect to /login?return_to=<this URL>;
 * - 'optional' (`@OptionalSession()`): let it through with `@CurrentUser()` null; the route decides.
 */
export type SessionMode = 'api' | 'page' | 'optional';
const SESSION_MODE = 'gatehouse:session-mode';

/** A server-rendered page: a browser without a session is sent to sign in, then back here. */
export const BrowserPage = () => applyDecorators(SetMetadata(SESSION_MODE, 'page'), UseFilters(SignInRedirectFilter));

/**
 * The route answers anonymous requests itself: e.g. /authorize checks the request before it asks
 * for a sign-in, so a bad request is reported to the client, not hidden behind a login form.
 */
export const OptionalSession = () => SetMetadata(SESSION_MODE, 'optional');

/**
 * `@UseGuards(SessionGuard)`: resolves the signed-in user (for `@CurrentUser()`) and refuses
 * requests without one as the route's SessionMode says.
 */
@Injectable()
export class SessionGuard implements CanActivate {
  constructor(
    private readonly sessions: LoginSessionService,
    private readonly reflector: Reflector,
    private readonly config: ConfigService,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest<Request>();
    // Guards on both the controller and the route: look the session up once.
    let user = resolvedCurrentUser(req);
    if (user === undefined) {
      user = await this.sessions.userOf(req);
      rememberCurrentUser(req, user);
    }
    if (user) return true;
    const mode = this.reflector.getAllAndOverride<SessionMode | undefined>(SESSION_MODE, [context.getHandler(), context.getClass()]) ?? 'api';
    if (mode === 'optional') return true;
    if (mode === 'page') throw new SignInRequired(req.originalUrl);
    // RFC 9110 §11.6.1: a 401 names how to authenticate; "Cookie" is the scheme of
    // draft-broyer-http-cookie-auth (there is no registered scheme for a sign-in form).
    context
      .switchToHttp()
      .getResponse<Response>()
      .setHeader('WWW-Authenticate', `Cookie realm="gatehouse", form-action="${this.config.publicPath('/login')}", cookie-name="${SESSION_COOKIE}"`);
    throw new UnauthorizedException({ error: 'unauthorized' });
  }
}
