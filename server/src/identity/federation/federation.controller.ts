import { Controller, Get, Logger, Param, Query, Req, Res, UseFilters } from '@nestjs/common';
import type { CookieOptions, Request, Response } from 'express';
import { AuditService } from '../../audit/audit.service';
import { ConfigService } from '../../config/config.service';
import { BrowserThrottleFilter } from '../../pages/browser-throttle.filter';
import { randomToken } from '../../common/crypto';
import { errorPage, notFoundPage } from '../../pages/error.pages';
import { federatedRefusalPage } from '../../pages/sign-in.pages';
import { PENDING_TTL_MS, PendingSignIns } from '../../pending-sign-ins/pending-sign-ins.service';
import { LoginSessionService, SESSION_COOKIE } from '../login-session.service';
import { safeReturnTo } from '../return-to';
import { User } from '../user.entity';
import { FederatedStrategies } from './federated-strategies';
import { IdentityProvider } from './identity-providers.service';
import { STRATEGY_SESSION_KEY } from './oidc-strategy';
import { PendingFederatedSignIn, StrategyStateData } from './pending-sign-ins';
import { expired, Refusal, refusalOf } from './refusals';

/** The browser's half of a pending sign-in (the key of its PendingSignIns row). Path-scoped: only these routes see it. */
export const PENDING_COOKIE = 'gh_oidc';
const PENDING_COOKIE_PATH = '/login/oidc/';

type Outcome = { redirected: true } | { redirected: false; err: unknown; user: User | false; info: unknown };
/** What Authenticator.authenticate() returns (typed `any` by @types/passport): a connect-style middleware. */
type PassportMiddleware = (req: Request, res: Response, next: (err?: unknown) => void) => void;

/**
 * "Sign in with …": GET /login/oidc/{provider} sends the browser to the provider (authorization code
 * with PKCE, state and nonce), GET /login/oidc/{provider}/callback comes back, checks the answer and the
 * ID token (openid-client), finds or creates the gateway user (FederatedUsersService), starts a gateway
 * session and resumes where the sign-in was for (`return_to`: an /authorize request, the console).
 */
@Controller('login/oidc')
@UseFilters(BrowserThrottleFilter)
export class FederationController {
  private readonly logger = new Logger('FederatedSignIn');

  constructor(
    private readonly pending: PendingSignIns,
    private readonly strategies: FederatedStrategies,
    private readonly sessions: LoginSessionService,
    private readonly audit: AuditService,
    private readonly config: ConfigService,
  ) {}

  @Get(':provider')
  async start(@Param('provider') id: string, @Query('return_to') returnTo: unknown, @Req() req: Request, @Res() res: Response) {
    const provider = await this.strategies.find(id);
    if (!provider) return res.status(404).type('html').send(notFoundPage(this.config.basePath));
    const target = safeReturnTo(returnTo, this.config.basePath);
    const strategy = await this.strategyOr(provider, req, res, target);
    if (!strategy) return;
    // The strategy writes its PKCE verifier, state and nonce to req.session[STRATEGY_SESSION_KEY] just
    // before redirecting; this session object stores them in the database (any replica may get the
    // callback) and gives the browser only the key. The redirect waits for the row (see holdEnd).
    const pending = this.pending;
    const cookieOptions = this.pendingCookieOptions(PENDING_TTL_MS);
    const requester = `ip:${req.ip ?? 'unknown'}`;
    let stored: Promise<void> | null = null;
    const session = {
      set [STRATEGY_SESSION_KEY](stateData: StrategyStateData) {
        const key = randomToken();
        const entry: PendingFederatedSignIn = { provider: provider.id, returnTo: target, stateData };
        stored = pending.put('oidc', key, requester, entry);
        res.cookie(PENDING_COOKIE, key, cookieOptions);
      },
    };
    (req as Request & { session: object }).session = session;
    this.holdEnd(res, () => stored);
    const outcome = await this.run(strategy, req, res);
    if (!outcome.redirected) await this.refuse(res, provider, target, refusalOf(provider.name, outcome.err, outcome.info), req);
  }

  @Get(':provider/callback')
  async callback(@Param('provider') id: string, @Req() req: Request, @Res() res: Response) {
    const provider = await this.strategies.find(id);
    if (!provider) return res.status(404).type('html').send(notFoundPage(this.config.basePath));
    const entry = await this.pending.take<PendingFederatedSignIn>('oidc', req.cookies?.[PENDING_COOKIE]);
    res.clearCookie(PENDING_COOKIE, this.pendingCookieOptions());
    const returnTo = entry?.returnTo ?? safeReturnTo(undefined, this.config.basePath);
    // Without code or error this is no answer of the provider; without our pending entry it is not for this browser.
    if (!entry || entry.provider !== provider.id || (req.query.code === undefined && req.query.error === undefined)) return this.refuse(res, provider, returnTo, expired(), req);
    const strategy = await this.strategyOr(provider, req, res, returnTo);
    if (!strategy) return;
    (req as Request & { session: object }).session = { [STRATEGY_SESSION_KEY]: entry.stateData };
    const outcome = await this.run(strategy, req, res);
    if (outcome.redirected) return; // not reached: the callback never starts a new authorization request
    if (outcome.err || !outcome.user) return this.refuse(res, provider, returnTo, refusalOf(provider.name, outcome.err, outcome.info), req);
    const secret = await this.sessions.start(outcome.user.id, req.ip ?? null);
    res.cookie(SESSION_COOKIE, secret, this.sessions.cookieOptions());
    res.redirect(303, returnTo);
  }

  /**
   * The strategy ends its response with the redirect to the provider synchronously, while the
   * pending sign-in's row is still being written: the end waits for the write, so the browser never
   * reaches the provider (which may answer at once) before its callback can be completed; a failed
   * write answers an error page instead of the redirect.
   */
  private holdEnd(res: Response, write: () => Promise<void> | null): void {
    const end = res.end.bind(res) as (...args: unknown[]) => Response;
    res.end = ((...args: unknown[]) => {
      res.end = end as Response['end'];
      const pending = write();
      if (!pending) return end(...args);
      pending.then(
        () => end(...args),
        (err: Error) => {
          this.logger.error(`could not store a pending sign-in: ${err.message}`);
          res.removeHeader('Location');
          res.removeHeader('Set-Cookie');
          res
            .status(503)
            .type('html')
            .send(errorPage(this.config.basePath, 'Sign-in unavailable', 'Gatehouse could not start the sign-in. Try again in a moment.'));
        },
      );
      return res;
    }) as Response['end'];
  }

  /** The name of the provider's strategy, or a refusal page when its discovery document cannot be had. */
  private async strategyOr(provider: IdentityProvider, req: Request, res: Response, returnTo: string): Promise<string | null> {
    try {
      return await this.strategies.strategyFor(provider);
    } catch (err) {
      await this.refuse(res, provider, returnTo, refusalOf(provider.name, err, undefined), req, err);
      return null;
    }
  }

  /** Runs the strategy on this gateway's own passport (FederatedStrategies.authenticator), not the process-wide one. */
  private run(strategy: string, req: Request, res: Response): Promise<Outcome> {
    return new Promise((resolve) => {
      // A redirect (to the provider) ends the response inside the strategy.
      res.once('finish', () => resolve({ redirected: true }));
      const authenticate = this.strategies.authenticator.authenticate(strategy, { session: false }, (err: unknown, user: User | false, info: unknown) =>
        resolve({ redirected: false, err, user, info }),
      ) as PassportMiddleware;
      authenticate(req, res, (err: unknown) => resolve({ redirected: false, err, user: false, info: undefined }));
    });
  }

  private async refuse(res: Response, provider: IdentityProvider, returnTo: string, refusal: Refusal, req: Request, err?: unknown): Promise<void> {
    if (refusal.status >= 500 || refusal.reason === 'provider_answer_invalid')
      this.logger.warn(`sign-in through ${provider.id} failed: ${refusal.reason}: ${(err as Error | undefined)?.message ?? refusal.message}`);
    await this.audit.recordNow({
      type: 'identity.federated.refused',
      outcome: 'failure',
      ip: req.ip ?? null,
      detail: { provider: provider.id, reason: refusal.reason, message: refusal.message },
    });
    res
      .status(refusal.status)
      .type('html')
      .send(
        federatedRefusalPage({
          base: this.config.basePath,
          providerName: provider.name,
          message: refusal.message,
          retryUrl: this.config.publicPath(`/login?return_to=${encodeURIComponent(returnTo)}`),
        }),
      );
  }

  private pendingCookieOptions(maxAge?: number): CookieOptions {
    // Lax: the provider's redirect back is a top-level GET from another site, which must carry it.
    return { httpOnly: true, sameSite: 'lax', secure: this.config.secureCookies, path: this.config.publicPath(PENDING_COOKIE_PATH), ...(maxAge ? { maxAge } : {}) };
  }
}
