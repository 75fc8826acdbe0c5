import { Controller, Get, Post, Req, Res, UseFilters, UseGuards, UseInterceptors } from '@nestjs/common';
import type { Request, Response } from 'express';
import { NoStore } from '../../common/no-store';
import { CurrentUser } from '../../identity/current-user';
import { OptionalSession, SessionGuard } from '../../identity/session.guard';
import { User } from '../../identity/user.entity';
import { BrowserThrottleFilter } from '../../pages/browser-throttle.filter';
import { AuthorizeParams } from './authorize.checks';
import { AuthorizeFlow, REQUEST_PARAMS } from './authorize.flow';
import { AUTHORIZE_STEPS, DECISION_STEPS } from './authorize.steps';

/**
 * OAuth 2.1 §4.1.1 authorization endpoint: the request's checks (authorize.checks.ts), then its
 * steps (authorize.steps.ts): sign in at the gateway → allow-list → the upstream auth mode's
 * sign-in step, if any (e.g. at the upstream's own authorization server) → consent, with the
 * fields the mode asks for (e.g. the user's own credentials) → code.
 */
@Controller('authorize')
@UseFilters(BrowserThrottleFilter)
@UseInterceptors(NoStore)
@UseGuards(SessionGuard)
@OptionalSession()
export class AuthorizeController {
  constructor(private readonly flow: AuthorizeFlow) {}

  @Get()
  async authorize(@Req() req: Request, @Res() res: Response, @CurrentUser() user: User | null): Promise<void> {
    await this.flow.run(req, res, req.query, user, AUTHORIZE_STEPS);
  }

  /** The consent form's answer. Every check runs again on the posted parameters. */
  @Post()
  async decide(@Req() req: Request, @Res() res: Response, @CurrentUser() user: User | null): Promise<void> {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const params: AuthorizeParams = {};
    for (const name of REQUEST_PARAMS) if (body[name] !== undefined && body[name] !== '') params[name] = body[name];
    await this.flow.run(req, res, params, user, DECISION_STEPS);
  }
}
