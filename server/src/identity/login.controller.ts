import { Controller, Get, Post, Query, Req, Res, UseFilters, UseGuards } from '@nestjs/common';
import { BrowserThrottleFilter } from '../pages/browser-throttle.filter';
import type { Request, Response } from 'express';
import { AuditService } from '../audit/audit.service';
import { formBody } from '../common/form-body';
import { ConfigService } from '../config/config.service';
import { checkCsrf, issueCsrfToken } from './csrf';
import { CurrentUser } from './current-user';
import { IdentityProvidersService } from './federation/identity-providers.service';
import { mayUsePassword } from './federation/local-password-policy';
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
    private readonly providers: IdentityProvidersService,
  ) {}

  @Get('login')
  @UseGuards(SessionGuard)
  @OptionalSession()
  async showLogin(@Req() req: Request, @Res() res: Response, @CurrentUser() user: User | null, @Query('return_to') returnTo?: string) {
    // Already signed in: straight on to where the sign-in was for, else to the console.
    if (user) return res.redirect(303, safeReturnTo(returnTo, this.config.basePath));
    const csrf = issueCsrfToken(req, res, this.config.cookieScope);
    res.type('html').send(loginPage({ base: this.config.basePath, csrf, returnTo: safeReturnTo(returnTo, this.config.basePath), ...(await this.signInChoices()) }));
  }

  @Post('login')
  @UseGuards(PasswordAuthGuard)
  async login(@Req() req: Request & { user: User | null }, @Res() res: Response) {
    const form = formBody(req);
    const returnTo = safeReturnTo(form.return_to, this.config.basePath);
    const email = typeof form.email === 'string' ? form.email.slice(0, 320) : '';
    const choices = await this.signInChoices();
    const rerender = (status: number, error: string) => {
      const csrf = issueCsrfToken(req, res, this.config.cookieScope);
      res
        .status(status)
        .type('html')
        .send(loginPage({ base: this.config.basePath, csrf, returnTo, email, error, ...choices }));
    };
    if (!checkCsrf(req)) return rerender(403, 'Your session expired. Please sign in again.');
    if (!req.user) {
      await this.audit.recordNow({ type: 'login', outcome: 'failure', ip: req.ip ?? null, detail: { email } });
      return rerender(401, 'Wrong email or password.');
    }
    if (!mayUsePassword(this.config.localAuth, req.user)) {
      await this.audit.recordNow({ type: 'login', outcome: 'failure', userId: req.user.id, ip: req.ip ?? null, detail: { email, reason: 'local_passwords_off' } });
      return rerender(403, 'Password sign-in is turned off for your account. Sign in with your identity provider.');
    }
    const secret = await this.sessions.start(req.user.id, req.ip ?? null);
    res.cookie(SESSION_COOKIE, secret, this.sessions.cookieOptions());
    res.redirect(303, returnTo);
  }

  /** The "Sign in with …" buttons, and whether the password form is only for a few (auth.local_passwords). */
  private async signInChoices() {
    return {
      providers: (await this.providers.all()).map((p) => ({ id: p.id, name: p.name })),
      passwordsLimited: this.config.localAuth.local_passwords !== 'enabled',
    };
  }

  @Post('logout')
  async logout(@Req() req: Request, @Res() res: Response) {
    await this.sessions.endOf(req);
    res.clearCookie(SESSION_COOKIE, { path: this.config.cookiePath });
    res.redirect(303, this.config.publicPath('/login'));
  }
}
