import { Controller, Get, Req, Res, UseGuards, UseInterceptors } from '@nestjs/common';
import type { Request, Response } from 'express';
import { NoStore } from '../../common/no-store';
import { ConfigService } from '../../config/config.service';
import { CurrentUser } from '../../identity/current-user';
import { safeReturnTo } from '../../identity/return-to';
import { OptionalSession, SessionGuard } from '../../identity/session.guard';
import { User } from '../../identity/user.entity';
import { errorPage } from '../../pages/error.pages';
import { UpstreamSignInError } from './upstream-oauth.errors';
import { UpstreamOAuthService } from './upstream-oauth.service';

/**
 * Where upstream authorization servers send the browser back after the user signed in there
 * (PUBLIC_URL/oauth/upstream/callback). On success the browser continues at the step that
 * started the sign-in (normally the gateway's /authorize request) with a 303.
 */
@Controller('oauth/upstream')
@UseInterceptors(NoStore)
export class UpstreamCallbackController {
  constructor(
    private readonly upstreamOAuth: UpstreamOAuthService,
    private readonly config: ConfigService,
  ) {}

  /** Open without a session too: the sign-in is then refused with a page saying why. */
  @Get('callback')
  @UseGuards(SessionGuard)
  @OptionalSession()
  async callback(@Req() req: Request, @Res() res: Response, @CurrentUser() user: User | null): Promise<void> {
    const q = req.query as Record<string, unknown>;
    const state = single(q.state);
    const code = single(q.code);
    const error = single(q.error);
    const sessionUserId = user?.id ?? null;

    if (error !== null) {
      const pending = state ? await this.upstreamOAuth.failSignIn(state, error, sessionUserId) : null;
      const who = pending ? pending.upstream.name : 'The MCP server';
      const description = single(q.error_description);
      const message = `${who} did not complete the sign-in: ${error.slice(0, 100)}${description ? ` (${description.slice(0, 200)})` : ''}.`;
      return this.fail(res, 400, 'Sign-in at the MCP server failed', message);
    }
    if (!state || !code) {
      return this.fail(res, 400, 'Sign-in at the MCP server failed', 'The MCP server sent Gatehouse back without a code or state. Start again from the application.');
    }
    try {
      const done = await this.upstreamOAuth.completeSignIn({ state, code, iss: single(q.iss) }, sessionUserId);
      res.redirect(303, safeReturnTo(done.returnTo, this.config.basePath));
    } catch (err) {
      if (err instanceof UpstreamSignInError) return this.fail(res, err.status, err.title, err.message);
      throw err;
    }
  }

  private fail(res: Response, status: number, title: string, message: string): void {
    res
      .status(status)
      .type('html')
      .send(errorPage(this.config.basePath, title, message));
  }
}

function single(value: unknown): string | null {
  return typeof value === 'string' && value !== '' ? value : null;
}
