import { Controller, Get, Param, Post, Req, Res, UseFilters, UseInterceptors } from '@nestjs/common';
import type { Request, Response } from 'express';
import { AuditService } from '../audit/audit.service';
import { formBody } from '../common/form-body';
import { NoStore } from '../common/no-store';
import { ConfigService } from '../config/config.service';
import { BrowserThrottleFilter } from '../pages/browser-throttle.filter';
import { setPasswordPage, unusableLinkPage } from '../pages/invite.pages';
import { checkCsrf, issueCsrfToken } from './csrf';
import { InviteToken } from './invite-token.entity';
import { InvitesService } from './invites.service';
import { LoginSessionService, SESSION_COOKIE } from './login-session.service';
import { passwordProblem } from './password';
import { consoleHome } from './return-to';
import { User } from './user.entity';
import { UsersService } from './users.service';

/**
 * The page behind an invite or password-reset link (PUBLIC_URL/invite/<token>): the user chooses
 * a password, the link is spent, and they are signed in. A link that cannot be used gets a page
 * saying why (404 unknown, 410 used or expired, 403 account disabled), never an error.
 */
@Controller('invite')
@UseFilters(BrowserThrottleFilter)
@UseInterceptors(NoStore)
export class InviteController {
  constructor(
    private readonly invites: InvitesService,
    private readonly users: UsersService,
    private readonly sessions: LoginSessionService,
    private readonly audit: AuditService,
    private readonly config: ConfigService,
  ) {}

  @Get(':token')
  async show(@Param('token') token: string, @Req() req: Request, @Res() res: Response) {
    const link = await this.usableLink(token, res);
    if (!link) return;
    this.render(req, res, 200, link);
  }

  @Post(':token')
  async setPassword(@Param('token') token: string, @Req() req: Request, @Res() res: Response) {
    const link = await this.usableLink(token, res);
    if (!link) return;
    if (!checkCsrf(req)) return this.render(req, res, 403, link, 'This form expired. Please enter your password again.');
    const form = formBody(req);
    const password = form.password;
    const problem = passwordProblem(password);
    if (problem) return this.render(req, res, 400, link, `The password ${problem}.`);
    if (password !== form.confirm) return this.render(req, res, 400, link, 'The two passwords differ.');
    if (!(await this.invites.claim(link.row))) {
      // Used (or expired) between the check above and now: another tab or a replay won.
      return void res.status(410).type('html').send(unusableLinkPage(this.config.basePath, 'used'));
    }
    await this.users.setPassword(link.user.id, password as string);
    // A reset link stands for "the old credentials may be compromised": no old session survives.
    await this.sessions.endAllFor(link.user.id);
    const secret = await this.sessions.start(link.user.id);
    await this.users.touchLogin(link.user.id);
    this.audit.record({ type: 'user.password.set', outcome: 'success', userId: link.user.id, ip: req.ip ?? null, detail: { via: link.row.purpose } });
    res.cookie(SESSION_COOKIE, secret, this.sessions.cookieOptions());
    // Into the console (members see their own access there).
    res.redirect(303, consoleHome(this.config.basePath));
  }

  /** The link and its user when the link can set a password; otherwise answers with the page saying why. */
  private async usableLink(token: string, res: Response): Promise<{ row: InviteToken; user: User } | null> {
    const found = await this.invites.inspect(token);
    const user = found.state === 'valid' ? await this.users.findById(found.row.userId) : null;
    const refuse = (status: number, reason: Parameters<typeof unusableLinkPage>[1]) => {
      res.status(status).type('html').send(unusableLinkPage(this.config.basePath, reason));
      return null;
    };
    if (found.state === 'used' || found.state === 'expired') return refuse(410, found.state);
    if (found.state !== 'valid' || !user) return refuse(404, 'unknown');
    if (user.disabled) return refuse(403, 'disabled');
    return { row: found.row, user };
  }

  private render(req: Request, res: Response, status: number, link: { row: InviteToken; user: User }, error?: string): void {
    const csrf = issueCsrfToken(req, res, this.config.cookieScope);
    const action = this.config.publicPath(`/invite/${encodeURIComponent(String(req.params.token))}`);
    res
      .status(status)
      .type('html')
      .send(setPasswordPage({ base: this.config.basePath, csrf, action, email: link.user.email, purpose: link.row.purpose, error }));
  }
}
