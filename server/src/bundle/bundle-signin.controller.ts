import { ConfigService } from '../config/config.service';
import { Controller, Get, Param, Res, UseFilters, UseGuards, UseInterceptors } from '@nestjs/common';
import type { Response } from 'express';
import { NoStore } from '../common/no-store';
import { CurrentUser } from '../identity/current-user';
import { BrowserPage, SessionGuard } from '../identity/session.guard';
import { User } from '../identity/user.entity';
import { BrowserThrottleFilter } from '../pages/browser-throttle.filter';
import { errorPage } from '../pages/error.pages';
import { AccessPolicyService } from '../upstreams/access-policy.service';
import { AuthModesService, AuthStepUnavailable } from '../upstreams/auth-modes';
import { UpstreamsService } from '../upstreams/upstreams.service';

/** Where the user lands when the upstream needs nothing more, or comes back from its sign-in. */
const MY_ACCESS = '/admin/me';

/** The URL the bundle names in an upstream's place when the user must sign in to it (bundle-catalogue.ts). */
export function bundleSignInPath(slug: string): string {
  return `/bundle/sign-in/${encodeURIComponent(slug)}`;
}

/**
 * `GET /bundle/sign-in/{slug}`: the "sign in at <url>" of an upstream that dropped out of a user's
 * bundle. Signed in at the gateway (else sent to sign in first), the user is taken through the
 * upstream auth mode's own sign-in step (e.g. its authorization server) and back to My access; a
 * mode without one (user_credentials: the credentials are entered on My access) goes there at once.
 * The bundle's sessions are told their lists changed when the sign-in lands (bundle-catalogue.ts).
 */
@Controller('bundle/sign-in')
@UseFilters(BrowserThrottleFilter)
@UseInterceptors(NoStore)
@UseGuards(SessionGuard)
@BrowserPage()
export class BundleSignInController {
  constructor(
    private readonly upstreams: UpstreamsService,
    private readonly policy: AccessPolicyService,
    private readonly authModes: AuthModesService,
    private readonly config: ConfigService,
  ) {}

  @Get(':slug')
  async signIn(@Param('slug') slug: string, @CurrentUser() user: User, @Res() res: Response): Promise<void> {
    const upstream = this.upstreams.get(slug);
    if (!upstream || !(await this.policy.allows(upstream, user.id))) {
      return void res
        .status(404)
        .type('html')
        .send(errorPage(this.config.basePath, 'No such MCP server', 'There is no MCP server by this name that you may use.'));
    }
    try {
      const myAccess = this.config.publicPath(MY_ACCESS);
      const url = await this.authModes.for(upstream).prerequisite(upstream, user.id, myAccess);
      res.redirect(302, url ?? myAccess);
    } catch (err) {
      if (!(err instanceof AuthStepUnavailable)) throw err;
      res
        .status(502)
        .type('html')
        .send(errorPage(this.config.basePath, err.title, err.userMessage));
    }
  }
}
