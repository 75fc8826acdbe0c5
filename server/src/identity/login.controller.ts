import { Controller, Get, Post, Query, Req, Res, UseFilters, UseGuards } from '@nestjs/common';
import { BrowserThrottleFilter } from '../pages/browser-throttle.filter';
import type { Request, Response } from 'express';
import { AuditService } from '../audit/audit.service';
import { ConfigService } from '../config/config.service';
import { checkCsrf, issueCsrfToken } from './csrf';
import { CurrentUser } from './current-user';
import { LoginSessionService, SESSION_COOKIE } from './login-session.service';
import { loginPage } from '../pages/sign-in.pages';
import { PasswordAuthGuard } from './password-auth.guard';
import { safeReturnTo } from './return-to';
import { OptionalSession, SessionGuard } from './session.guard';
import { User } from './user.entity';

@Controller()
@UseFilters(BrowserThrottleFilter)
export class LoginController {
  constructor(
    private readonly sessions: LoginSessionService,
    private readonly audit: AuditService,
    private readonly config: ConfigService,
  ) {}

  @Get('login')
  @UseGuards(SessionGuard)
  @OptionalSession()
  async showLogin(@Req() req: Request, @Res() res: Response, @CurrentUser() user: User | null, @Query('return_to') returnTo?: string) {
    // Already signed in: straight on to where the sign-in was for, else to the console.
    if (user) return res.redirect(303, safeReturnTo(returnTo));
    const csrf = issueCsrfToken(req, res, this.config.secureCookies);
    res.type('html').send(loginPage({ csrf, returnTo: safeReturnTo(returnTo) }));
  }

  @Post('login')
  @UseGuards(PasswordAuthGuard)
  async login(@Req() req: Request & { user: User | null }, @Res() res: Response) {
    const returnTo = safeReturnTo(req.body?.return_to);
    const email = typeof req.body?.email === 'string' ? req.body.email.slice(0, 320) : '';
    const rerender = (status: number, error: string) => {
      const csrf = issueCsrfToken(req, res, this.config.secureCookies);
      res.status(status).type('html').send(loginPage({ csrf, returnTo, email, error }));
    };
    if (!checkCsrf(req)) return rerender(403, 'Your session expired. Please sign in again.');
    if (!req.user) {
      await this.audit.recordNow({ type: 'login', outcome: 'failure', ip: req.ip ?? null, detail: { email } });
      return rerender(401, 'Wrong email or password.');
    }
    const secret = await this.sessions.start(req.user.id, req.ip ?? null);
    res.cookie(SESSION_COOKIE, secret, this.sessions.cookieOptions());
    res.redirect(303, returnTo);
  }

  @Post('logout')
  async logout(@Req() req: Request, @Res() res: Response) {
    await this.sessions.endOf(req);
    res.clearCookie(SESSION_COOKIE, { path: '/' });
    res.redirect(303, '/login');
  }
}
