import { Controller, Get, Post, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { AuditService } from '../audit/audit.service';
import { ConfigService } from '../config/config.service';
import { checkCsrf, issueCsrfToken } from '../identity/csrf';
import { LoginSessionService, SESSION_COOKIE } from '../identity/login-session.service';
import { User } from '../identity/user.entity';
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
import { consentPage, errorPage } from './authorize.views';
import { ClientsService } from './clients.service';
import { ConsentService } from './consent.service';
import { AccessDenied, InvalidScope, InvalidTarget, OAuthError } from './oauth.errors';
import { TokensService } from './tokens.service';

/** The authorization request parameters carried from the consent page back to us. */
const REQUEST_PARAMS = ['response_type', 'client_id', 'redirect_uri', 'state', 'code_challenge', 'code_challenge_method', 'scope', 'resource'];

@Controller('authorize')
export class AuthorizeController {
  private readonly ctx: AuthorizeContext;

  constructor(
    private readonly clients: ClientsService,
    private readonly upstreams: UpstreamsService,
    private readonly consents: ConsentService,
    private readonly tokens: TokensService,
    private readonly sessions: LoginSessionService,
    private readonly audit: AuditService,
    private readonly config: ConfigService,
  ) {
    this.ctx = {
      findClient: (id) => this.clients.find(id),
      upstreamByResource: (r) => this.upstreams.byResource(r),
      upstreams: () => this.upstreams.list(),
    };
  }

  /** OAuth 2.1 §4.1.1: validate, sign in, ask for consent (or reuse a remembered one), redirect with a code. */
  @Get()
  async authorize(@Req() req: Request, @Res() res: Response) {
    const params = req.query as AuthorizeParams;
    await this.handle(req, res, params, 302, async (valid, user) => {
      const upstream = valid.upstream;
      if (upstream) {
        const scope = effectiveScope(valid.requestedScopes, upstream);
        if (scope && (await this.consents.covers(user.id, valid.client.clientId, upstream.slug, scope))) {
          return this.issueCode(req, res, valid, user, upstream, scope, 302);
        }
      }
      this.showConsent(req, res, valid, user, params);
    });
  }

  /** The consent form's answer. Every check runs again on the posted parameters. */
  @Post()
  async decide(@Req() req: Request, @Res() res: Response) {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const params: AuthorizeParams = {};
    for (const name of REQUEST_PARAMS) if (body[name] !== undefined && body[name] !== '') params[name] = body[name];
    await this.handle(req, res, params, 303, async (valid, user) => {
      if (!checkCsrf(req)) {
        return res.status(403).type('html').send(errorPage('Request expired', 'This consent form has expired. Start again from the application.'));
      }
      const upstream = valid.upstream ?? this.upstreams.get(String(body.upstream ?? ''));
      if (!upstream) throw new RedirectableError(new InvalidTarget('no MCP server was chosen'), valid.redirectUri, valid.state);
      if (body.decision !== 'approve') {
        this.audit.record({ type: 'consent', outcome: 'failure', userId: user.id, clientId: valid.client.clientId, upstreamSlug: upstream.slug, detail: { decision: 'deny' } });
        throw new RedirectableError(new AccessDenied('the user denied access'), valid.redirectUri, valid.state);
      }
      const scope = effectiveScope(valid.requestedScopes, upstream);
      if (!scope) throw new RedirectableError(new InvalidScope('requested scope is not offered by this MCP server'), valid.redirectUri, valid.state);
      await this.consents.remember(user.id, valid.client.clientId, upstream.slug, scope);
      this.audit.record({ type: 'consent', outcome: 'success', userId: user.id, clientId: valid.client.clientId, upstreamSlug: upstream.slug, detail: { scope } });
      await this.issueCode(req, res, valid, user, upstream, scope, 303);
    });
  }

  private async handle(
    req: Request,
    res: Response,
    params: AuthorizeParams,
    redirectStatus: 302 | 303,
    next: (valid: ValidAuthorization, user: User) => Promise<unknown>,
  ): Promise<void> {
    res.setHeader('Cache-Control', 'no-store');
    try {
      const valid = await validateAuthorization(params, this.ctx);
      const user = await this.sessions.userFor(req.cookies?.[SESSION_COOKIE]);
      if (!user) {
        const query = new URLSearchParams(params as Record<string, string>).toString();
        return res.redirect(redirectStatus, `/login?return_to=${encodeURIComponent(`/authorize?${query}`)}`);
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

  private showConsent(req: Request, res: Response, valid: ValidAuthorization, user: User, params: AuthorizeParams): void {
    const hidden: Record<string, string> = {};
    for (const name of REQUEST_PARAMS) if (typeof params[name] === 'string') hidden[name] = params[name] as string;
    hidden.redirect_uri = valid.redirectUri;
    res.type('html').send(
      consentPage({
        csrf: issueCsrfToken(req, res, this.config.secureCookies),
        clientName: valid.client.clientName,
        clientId: valid.client.clientId,
        clientHost: /^https?:\/\//.test(valid.client.clientId) ? new URL(valid.client.clientId).host : null,
        redirectHost: new URL(valid.redirectUri).host,
        userEmail: user.email,
        upstream: valid.upstream,
        choices: this.upstreams.list(),
        scopes: valid.upstream ? (effectiveScope(valid.requestedScopes, valid.upstream) ?? '').split(' ').filter(Boolean) : valid.requestedScopes,
        hidden,
      }),
    );
  }

  private async issueCode(
    req: Request,
    res: Response,
    valid: ValidAuthorization,
    user: User,
    upstream: Upstream,
    scope: string,
    status: 302 | 303,
  ): Promise<void> {
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
