import { Controller, Get, Logger, Post, Req, Res, UseFilters, UseGuards, UseInterceptors } from '@nestjs/common';
import { BrowserThrottleFilter } from '../pages/browser-throttle.filter';
import type { Request, Response } from 'express';
import { AuditService } from '../audit/audit.service';
import { NoStore } from '../common/no-store';
import { ConfigService } from '../config/config.service';
import { checkCsrf, issueCsrfToken } from '../identity/csrf';
import { CurrentUser } from '../identity/current-user';
import { signInUrl } from '../identity/return-to';
import { OptionalSession, SessionGuard } from '../identity/session.guard';
import { User } from '../identity/user.entity';
import { consentPage, refusedPage } from '../pages/consent.pages';
import { errorPage } from '../pages/error.pages';
import { AccessPolicyService } from '../upstreams/access-policy.service';
import { AuthModesService, AuthStepUnavailable, ConsentInputError } from '../upstreams/auth-modes';
import { Upstream } from '../upstreams/upstream';
import { UpstreamsService } from '../upstreams/upstreams.service';
import {
  AuthorizeContext,
  AuthorizeParams,
  effectiveScope,
  RedirectableError,
  UntrustedRedirect,
  ValidAuthorization,
  validateAuthorization,
} from './authorize.checks';
import { ClientsService } from './clients.service';
import { ConsentService } from './consent.service';
import { AccessDenied, InvalidScope, InvalidTarget, OAuthError } from './oauth.errors';
import { ResourceHintsService } from './resource-hints.service';
import { TokensService } from './tokens.service';

/** The authorization request parameters carried from the consent page back to us. */
const REQUEST_PARAMS = ['response_type', 'client_id', 'redirect_uri', 'state', 'code_challenge', 'code_challenge_method', 'scope', 'resource'];
const CREDENTIAL_FIELD = /^cred_([a-z_][a-z0-9_]*)$/;

/**
 * OAuth 2.1 §4.1.1 authorization endpoint. After the request passes its checks:
 * sign in at the gateway → allow-list → the upstream auth mode's sign-in step, if any
 * (e.g. at the upstream's own authorization server) → consent, with the fields the
 * mode asks for (e.g. the user's own credentials) → code.
 */
@Controller('authorize')
@UseFilters(BrowserThrottleFilter)
@UseInterceptors(NoStore)
@UseGuards(SessionGuard)
@OptionalSession()
export class AuthorizeController {
  private readonly logger = new Logger('Authorize');

  constructor(
    private readonly clients: ClientsService,
    private readonly upstreams: UpstreamsService,
    private readonly policy: AccessPolicyService,
    private readonly authModes: AuthModesService,
    private readonly consents: ConsentService,
    private readonly hints: ResourceHintsService,
    private readonly tokens: TokensService,
    private readonly audit: AuditService,
    private readonly config: ConfigService,
  ) {}

  private contextFor(req: Request): AuthorizeContext {
    return {
      findClient: (id) => this.clients.find(id),
      upstreamByResource: (r) => this.upstreams.byResource(r),
      upstreams: () => this.upstreams.list(),
      hintedUpstream: (clientId) => {
        const slug = this.hints.slugFor(clientId, req.ip);
        return slug ? this.upstreams.get(slug) : undefined;
      },
    };
  }

  @Get()
  async authorize(@Req() req: Request, @Res() res: Response, @CurrentUser() sessionUser: User | null) {
    const params = req.query as AuthorizeParams;
    await this.handle(req, res, params, sessionUser, 302, async (valid, user) => {
      const upstream = valid.upstream;
      if (!upstream) {
        const choices = await this.allowedUpstreams(user);
        if (!choices.length) return this.refuse(res, valid, user, null);
        return this.showConsent(req, res, valid, user, params, null, choices);
      }
      if (!(await this.policy.allows(upstream, user.id))) return this.refuse(res, valid, user, upstream);
      if (await this.sentToPrerequisite(res, upstream, user, req.originalUrl, 302)) return;
      const scope = effectiveScope(valid.requestedScopes, upstream);
      if (scope && (await this.canSkipConsent(valid, user, upstream, scope))) {
        return this.issueCode(res, valid, user, upstream, scope, 302);
      }
      this.showConsent(req, res, valid, user, params, upstream, [upstream]);
    });
  }

  /** The consent form's answer. Every check runs again on the posted parameters. */
  @Post()
  async decide(@Req() req: Request, @Res() res: Response, @CurrentUser() sessionUser: User | null) {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const params: AuthorizeParams = {};
    for (const name of REQUEST_PARAMS) if (body[name] !== undefined && body[name] !== '') params[name] = body[name];
    await this.handle(req, res, params, sessionUser, 303, async (valid, user) => {
      if (!checkCsrf(req)) {
        return res.status(403).type('html').send(errorPage('Request expired', 'This consent form has expired. Start again from the application.'));
      }
      const upstream = valid.upstream ?? this.upstreams.get(String(body.upstream ?? ''));
      if (!upstream) throw new RedirectableError(new InvalidTarget('no MCP server was chosen'), valid.redirectUri, valid.state);
      if (!(await this.policy.allows(upstream, user.id))) return this.refuse(res, valid, user, upstream);
      const who = { userId: user.id, clientId: valid.client.clientId, upstreamSlug: upstream.slug };
      if (body.decision !== 'approve') {
        this.audit.recordNow({ type: 'consent', outcome: 'failure', ...who, detail: { decision: 'deny' } });
        throw new RedirectableError(new AccessDenied('the user denied access'), valid.redirectUri, valid.state);
      }
      const scope = effectiveScope(valid.requestedScopes, upstream);
      if (!scope) throw new RedirectableError(new InvalidScope('requested scope is not offered by this MCP server'), valid.redirectUri, valid.state);
      try {
        await this.authModes.for(upstream).saveConsentInput(upstream, user.id, credentialInput(body));
      } catch (err) {
        if (!(err instanceof ConsentInputError)) throw err;
        res.status(400);
        return this.showConsent(req, res, valid, user, { ...params, resource: upstream.resource }, upstream, [upstream], { message: err.message, field: err.field });
      }
      await this.consents.remember(user.id, valid.client.clientId, upstream.slug, scope);
      // Chosen on the consent page: take the mode's sign-in step, then come back with the choice made.
      const query = new URLSearchParams({ ...(params as Record<string, string>), resource: upstream.resource }).toString();
      if (await this.sentToPrerequisite(res, upstream, user, `/authorize?${query}`, 303)) return;
      await this.issueCode(res, valid, user, upstream, scope, 303);
    });
  }

  private async handle(
    req: Request,
    res: Response,
    params: AuthorizeParams,
    user: User | null,
    redirectStatus: 302 | 303,
    next: (valid: ValidAuthorization, user: User) => Promise<unknown>,
  ): Promise<void> {
    try {
      const valid = await validateAuthorization(params, this.contextFor(req));
      if (!user) {
        const query = new URLSearchParams(params as Record<string, string>).toString();
        return res.redirect(redirectStatus, signInUrl(`/authorize?${query}`));
      }
      await next(valid, user);
    } catch (err) {
      if (err instanceof UntrustedRedirect) {
        return void res.status(400).type('html').send(errorPage('Cannot connect this application', err.description));
      }
      if (err instanceof RedirectableError) {
        return res.redirect(redirectStatus, this.redirectUrl(err.redirectUri, err.state, errorParams(err.oauth)));
      }
      throw err;
    }
  }

  /**
   * The upstream auth mode's sign-in step (e.g. at the upstream's own authorization server), when
   * the user still needs it: redirects there, or answers 502 when it cannot start. True if it answered.
   */
  private async sentToPrerequisite(res: Response, upstream: Upstream, user: User, returnTo: string, status: 302 | 303): Promise<boolean> {
    let url: string | null;
    try {
      url = await this.authModes.for(upstream).prerequisite(upstream, user.id, returnTo);
    } catch (err) {
      if (!(err instanceof AuthStepUnavailable)) throw err;
      this.logger.warn(err.message);
      res.status(502).type('html').send(errorPage(err.title, err.userMessage));
      return true;
    }
    if (url === null) return false;
    res.redirect(status, url);
    return true;
  }

  private async canSkipConsent(valid: ValidAuthorization, user: User, upstream: Upstream, scope: string): Promise<boolean> {
    if (!(await this.authModes.for(upstream).canSkipConsent(upstream, user.id))) return false;
    return this.consents.covers(user.id, valid.client.clientId, upstream.slug, scope);
  }

  private async allowedUpstreams(user: User): Promise<Upstream[]> {
    const allowed: Upstream[] = [];
    for (const u of this.upstreams.list()) if (await this.policy.allows(u, user.id)) allowed.push(u);
    return allowed;
  }

  /** Not on the allow-list: a clear page, no code, and an audit row. */
  private refuse(res: Response, valid: ValidAuthorization, user: User, upstream: Upstream | null): void {
    this.audit.recordNow({
      type: 'policy.deny',
      outcome: 'failure',
      userId: user.id,
      clientId: valid.client.clientId,
      upstreamSlug: upstream?.slug ?? null,
      detail: { step: 'authorize' },
    });
    res.status(403).type('html').send(refusedPage(upstream?.name ?? 'any MCP server behind this gateway', user.email));
  }

  private async showConsent(
    req: Request,
    res: Response,
    valid: ValidAuthorization,
    user: User,
    params: AuthorizeParams,
    upstream: Upstream | null,
    choices: Upstream[],
    error?: { message: string; field?: string },
  ): Promise<void> {
    const hidden: Record<string, string> = {};
    for (const name of REQUEST_PARAMS) if (typeof params[name] === 'string') hidden[name] = params[name] as string;
    hidden.redirect_uri = valid.redirectUri;
    const mode = upstream && this.authModes.for(upstream);
    res.type('html').send(
      consentPage({
        csrf: issueCsrfToken(req, res, this.config.secureCookies),
        clientName: valid.client.clientName,
        clientId: valid.client.clientId,
        clientHost: this.clients.publisherHost(valid.client.clientId),
        redirectHost: new URL(valid.redirectUri).host,
        userEmail: user.email,
        upstream,
        choices,
        scopes: upstream ? (effectiveScope(valid.requestedScopes, upstream) ?? '').split(' ').filter(Boolean) : valid.requestedScopes,
        hidden,
        credentialFields: mode ? mode.consentFields(upstream) : [],
        hasCredentials: mode ? await mode.hasConsentInput(upstream, user.id) : false,
        error: error?.message,
        invalidField: error?.field,
      }),
    );
  }

  private async issueCode(res: Response, valid: ValidAuthorization, user: User, upstream: Upstream, scope: string, status: 302 | 303): Promise<void> {
    const code = await this.tokens.issueCode({
      clientId: valid.client.clientId,
      userId: user.id,
      upstreamSlug: upstream.slug,
      redirectUri: valid.redirectUri,
      codeChallenge: valid.codeChallenge,
      scope,
    });
    res.redirect(status, this.redirectUrl(valid.redirectUri, valid.state, { code }));
  }

  /** RFC 9207: every authorization response names the issuer. */
  private redirectUrl(redirectUri: string, state: string | null, fields: Record<string, string>): string {
    const url = new URL(redirectUri);
    for (const [k, v] of Object.entries(fields)) url.searchParams.set(k, v);
    if (state !== null) url.searchParams.set('state', state);
    url.searchParams.set('iss', this.config.issuer);
    return url.toString();
  }
}

function errorParams(err: OAuthError): Record<string, string> {
  return { error: err.error, error_description: err.description };
}

function credentialInput(body: Record<string, unknown>): Record<string, string> {
  const input: Record<string, string> = {};
  for (const [key, value] of Object.entries(body)) {
    const m = CREDENTIAL_FIELD.exec(key);
    if (m && typeof value === 'string') input[m[1]] = value;
  }
  return input;
}
