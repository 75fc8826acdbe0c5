import { Injectable, Logger } from '@nestjs/common';
import type { Request, Response } from 'express';
import { AuditService } from '../../audit/audit.service';
import { ConfigService } from '../../config/config.service';
import { issueCsrfToken } from '../../identity/csrf';
import { User } from '../../identity/user.entity';
import { consentPage, refusedPage } from '../../pages/consent.pages';
import { errorPage } from '../../pages/error.pages';
import { AccessPolicyService } from '../../upstreams/access-policy.service';
import { AuthModesService } from '../../upstreams/auth-modes';
import { Upstream } from '../../upstreams/upstream';
import { UpstreamsService } from '../../upstreams/upstreams.service';
import { ClientsService } from '../clients.service';
import { ConsentService } from '../consent.service';
import { GrantsService } from '../grants/grants.service';
import { AccessDenied, OAuthError } from '../oauth.errors';
import { ResourceHintsService } from '../resource-hints.service';
import { AuthorizeContext, AuthorizeParams, effectiveScope, RedirectableError, UntrustedRedirect, ValidAuthorization, validateAuthorization } from './authorize.checks';

/** The authorization request parameters carried from the consent page back to us. */
export const REQUEST_PARAMS = ['response_type', 'client_id', 'redirect_uri', 'state', 'code_challenge', 'code_challenge_method', 'scope', 'resource'];

/** What a step answers instead of going on: a redirect (302 on GET, 303 on the consent POST) or an HTML page. */
export type Answer = { redirect: string } | { status: number; html: string };
export const CONTINUE = 'continue';
export type StepResult = typeof CONTINUE | Answer;

/** One authorization request on its way through the steps, after it passed its checks (authorize.checks.ts). */
export interface AuthorizeRequest {
  req: Request;
  res: Response;
  params: AuthorizeParams;
  valid: ValidAuthorization;
  /** Null only before the signIn step. */
  user: User | null;
  /** The upstream, once known (from the request, or chosen on the consent page). */
  upstream: Upstream | null;
  /** The scope the code will carry, once decided. */
  scope: string | null;
}

/** A step of the flow: 'continue', or the answer that ends the request here. May throw a RedirectableError. */
export type AuthorizeStep = (request: AuthorizeRequest, flow: AuthorizeFlow) => Promise<StepResult> | StepResult;

/**
 * Runs an authorization request through its checks and then its steps (authorize.steps.ts), in
 * order, until one answers; and holds what the steps share (the services, the pages they answer with).
 */
@Injectable()
export class AuthorizeFlow {
  readonly logger = new Logger('Authorize');

  constructor(
    readonly clients: ClientsService,
    readonly upstreams: UpstreamsService,
    readonly policy: AccessPolicyService,
    readonly authModes: AuthModesService,
    readonly consents: ConsentService,
    readonly grants: GrantsService,
    readonly audit: AuditService,
    private readonly hints: ResourceHintsService,
    readonly config: ConfigService,
  ) {}

  async run(req: Request, res: Response, params: AuthorizeParams, user: User | null, steps: AuthorizeStep[]): Promise<void> {
    // RFC 6749 §4.1.2: GET answers redirect with 302; the consent form's POST with 303 (RFC 9110 §15.4.4).
    const redirectStatus = req.method === 'POST' ? 303 : 302;
    try {
      const valid = await validateAuthorization(params, this.contextFor(req));
      const request: AuthorizeRequest = { req, res, params, valid, user, upstream: valid.upstream, scope: null };
      for (const step of steps) {
        const result = await step(request, this);
        if (result === CONTINUE) continue;
        if ('redirect' in result) return res.redirect(redirectStatus, result.redirect);
        return void res.status(result.status).type('html').send(result.html);
      }
      throw new Error('the authorize steps ended without an answer');
    } catch (err) {
      if (err instanceof UntrustedRedirect) {
        if (err.clientId) await this.recordError(err.clientId, user, 'invalid_redirect_uri', err.description);
        return void res
          .status(400)
          .type('html')
          .send(errorPage(this.config.basePath, 'Cannot connect this application', err.description));
      }
      if (err instanceof RedirectableError) {
        // A denied consent has its own row ('consent', failure).
        if (!(err.oauth instanceof AccessDenied) && typeof params.client_id === 'string') await this.recordError(params.client_id, user, err.oauth.error, err.oauth.description);
        return res.redirect(redirectStatus, this.redirectUrl(err.redirectUri, err.state, errorParams(err.oauth)));
      }
      throw err;
    }
  }

  /**
   * An authorization request refused by its checks, for the connection doctor: the RFC 6749
   * §4.1.2.1 error code and its description (never the request's parameters or URL).
   * Only for known clients: an unknown client_id writes nothing, so made-up ids fill no log.
   */
  private recordError(clientId: string, user: User | null, error: string, reason: string): Promise<void> {
    return this.audit.recordNow({ type: 'authorize.error', outcome: 'failure', clientId, userId: user?.id ?? null, detail: { error, reason } });
  }

  /** Not on the allow-list: a clear page, no code, and an audit row. */
  async refusal(request: AuthorizeRequest, upstream: Upstream | null): Promise<Answer> {
    const user = request.user!;
    await this.audit.recordNow({
      type: 'policy.deny',
      outcome: 'failure',
      userId: user.id,
      clientId: request.valid.client.clientId,
      upstreamSlug: upstream?.slug ?? null,
      detail: { step: 'authorize' },
    });
    return { status: 403, html: refusedPage(this.config.basePath, upstream?.name ?? 'any MCP server behind this gateway', user.email) };
  }

  /** The consent page for the request's upstream, or a choice among `choices` when it has none. */
  async consent(request: AuthorizeRequest, choices: Upstream[], error?: { message: string; field?: string }): Promise<Answer> {
    const { req, res, valid, upstream } = request;
    const hidden: Record<string, string> = {};
    for (const name of REQUEST_PARAMS) if (typeof request.params[name] === 'string') hidden[name] = request.params[name];
    hidden.redirect_uri = valid.redirectUri;
    const mode = upstream && this.authModes.for(upstream);
    const html = consentPage({
      base: this.config.basePath,
      csrf: issueCsrfToken(req, res, this.config.cookieScope),
      clientName: valid.client.clientName,
      clientId: valid.client.clientId,
      clientHost: this.clients.publisherHost(valid.client.clientId),
      redirectHost: new URL(valid.redirectUri).host,
      userEmail: request.user!.email,
      upstream,
      choices,
      scopes: upstream ? (effectiveScope(valid.requestedScopes, upstream) ?? '').split(' ').filter(Boolean) : valid.requestedScopes,
      hidden,
      credentialFields: mode ? mode.consentFields(upstream) : [],
      hasCredentials: mode ? await mode.hasConsentInput(upstream, request.user!.id) : false,
      error: error?.message,
      invalidField: error?.field,
    });
    return { status: error ? 400 : 200, html };
  }

  /** RFC 9207: every authorization response names the issuer. */
  redirectUrl(redirectUri: string, state: string | null, fields: Record<string, string>): string {
    const url = new URL(redirectUri);
    for (const [k, v] of Object.entries(fields)) url.searchParams.set(k, v);
    if (state !== null) url.searchParams.set('state', state);
    url.searchParams.set('iss', this.config.issuer);
    return url.toString();
  }

  private contextFor(req: Request): AuthorizeContext {
    return {
      findClient: (id) => this.clients.find(id),
      upstreamByResource: (r) => this.upstreams.byResource(r),
      upstreams: () => this.upstreams.list(),
      hintedUpstream: (clientId) => {
        const slug = this.hints.slugFor(clientId, req.ip);
        return slug ? this.upstreams.target(slug) : undefined;
      },
    };
  }
}

function errorParams(err: OAuthError): Record<string, string> {
  return { error: err.error, error_description: err.description };
}
