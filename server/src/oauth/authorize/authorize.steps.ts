import { checkCsrf } from '../../identity/csrf';
import { signInUrl } from '../../identity/return-to';
import { BUNDLE_MEMBERS, BUNDLE_SKIP_PARAM, isBundleSlug, scopesOfItsOwn } from '../../bundle/bundle-resource';
import { bundleSignInPage } from '../../pages/bundle-signin.pages';
import { errorPage } from '../../pages/error.pages';
import { AuthStepUnavailable, ConsentInputError } from '../../upstreams/auth-modes';
import { Upstream } from '../../upstreams/upstream';
import { AccessDenied, InvalidScope, InvalidTarget } from '../oauth.errors';
import { effectiveScope, RedirectableError } from './authorize.checks';
import { CONTINUE } from './authorize.flow';
import type { AuthorizeFlow, AuthorizeRequest, AuthorizeStep, StepResult } from './authorize.flow';

const CREDENTIAL_FIELD = /^cred_([a-z_][a-z0-9_]*)$/;

/**
 * The steps of an authorization request that passed its checks, in order. Each returns
 * 'continue' or the answer that ends the request (a redirect or a page).
 */

/**
 * The request passed its checks: an audit row for the connection doctor (did the client come to
 * /authorize at all, was the user signed in yet). Only ids and the upstream: never the query.
 */
async function started(request: AuthorizeRequest, flow: AuthorizeFlow): Promise<StepResult> {
  await flow.audit.recordNow({
    type: 'authorize.start',
    outcome: 'success',
    clientId: request.valid.client.clientId,
    userId: request.user?.id ?? null,
    upstreamSlug: request.upstream?.slug ?? null,
    ip: request.req.ip ?? null,
    detail: { signed_in: request.user !== null },
  });
  return CONTINUE;
}

/** Signed in at the gateway, or sent to sign in and brought back to this same request. */
function signIn({ user, params }: AuthorizeRequest, flow: AuthorizeFlow): StepResult {
  if (user) return CONTINUE;
  const query = new URLSearchParams(params as Record<string, string>).toString();
  return { redirect: signInUrl(flow.config.basePath, flow.config.publicPath(`/authorize?${query}`)) };
}

/** Without an upstream in the request, the user picks one on the consent page among those they may use. */
async function upstreamKnownOrAsk(request: AuthorizeRequest, flow: AuthorizeFlow): Promise<StepResult> {
  if (request.upstream) return CONTINUE;
  const choices: Upstream[] = [];
  for (const u of flow.upstreams.list()) if (await flow.policy.allows(u, request.user!.id)) choices.push(u);
  if (!choices.length) return flow.refusal(request, null);
  return flow.consent(request, choices);
}

/** The upstream's allow-list admits the user. */
async function allowList(request: AuthorizeRequest, flow: AuthorizeFlow): Promise<StepResult> {
  const upstream = request.upstream!;
  return (await flow.policy.allows(upstream, request.user!.id)) ? CONTINUE : flow.refusal(request, upstream);
}

/**
 * The upstream auth mode's sign-in step, when the user still needs it (e.g. at the upstream's own
 * authorization server): a redirect there that comes back to `returnTo`, or 502 when it cannot start.
 */
async function prerequisite(request: AuthorizeRequest, flow: AuthorizeFlow, returnTo: string): Promise<StepResult> {
  const upstream = request.upstream!;
  let url: string | null;
  try {
    url = await flow.authModes.for(upstream).prerequisite(upstream, request.user!.id, returnTo);
  } catch (err) {
    if (!(err instanceof AuthStepUnavailable)) throw err;
    flow.logger.warn(err.message);
    return { status: 502, html: errorPage(flow.config.basePath, err.title, err.userMessage) };
  }
  return url === null ? CONTINUE : { redirect: url };
}

/**
 * The bundle (`/mcp`, bundle/): the sign-in step of every member upstream the user has not taken
 * yet (e.g. an `oauth` upstream's own sign-in), one at a time, each behind a page that offers to
 * skip it. Signing in comes back to this same request, which then asks for the next one; a skipped
 * or failing one stays out of the bundle, which lists a message in its place.
 */
async function bundleMembersSignedIn(request: AuthorizeRequest, flow: AuthorizeFlow): Promise<StepResult> {
  if (!isBundleSlug(request.upstream!.slug)) return CONTINUE;
  const only = BUNDLE_MEMBERS.get(request.upstream!);
  const userId = request.user!.id;
  const skipParam = request.params[BUNDLE_SKIP_PARAM];
  const skipped = typeof skipParam === 'string' ? skipParam.split(',').filter(Boolean) : [];
  const pending: Upstream[] = [];
  for (const member of flow.upstreams.list()) {
    if (skipped.includes(member.slug) || (only && !only.includes(member.slug)) || scopesOfItsOwn(member).length) continue;
    if (!(await flow.policy.allows(member, userId))) continue;
    pending.push(member);
  }
  for (const [i, member] of pending.entries()) {
    let url: string | null;
    try {
      url = await flow.authModes.for(member).prerequisite(member, userId, flow.config.publicPath(request.req.originalUrl));
    } catch (err) {
      if (!(err instanceof AuthStepUnavailable)) throw err;
      flow.logger.warn(`bundle: ${err.message}; left out of the bundle for now`);
      continue;
    }
    if (url === null) continue;
    const skip = new URLSearchParams({ ...(request.params as Record<string, string>), [BUNDLE_SKIP_PARAM]: [...skipped, member.slug].join(',') });
    return {
      status: 200,
      html: bundleSignInPage(flow.config.basePath, {
        upstreamName: member.name,
        signInUrl: url,
        skipUrl: flow.config.publicPath(`/authorize?${skip.toString()}`),
        remaining: pending.length - i - 1,
      }),
    };
  }
  return CONTINUE;
}

/** On GET the sign-in step comes back to the same request. */
function prerequisiteOfRequest(request: AuthorizeRequest, flow: AuthorizeFlow): Promise<StepResult> {
  return prerequisite(request, flow, flow.config.publicPath(request.req.originalUrl));
}

/** Chosen on the consent page: take the mode's sign-in step, then come back with the choice made. */
function prerequisiteOfChoice(request: AuthorizeRequest, flow: AuthorizeFlow): Promise<StepResult> {
  const query = new URLSearchParams({ ...(request.params as Record<string, string>), resource: request.upstream!.resource }).toString();
  return prerequisite(request, flow, flow.config.publicPath(`/authorize?${query}`));
}

/** An earlier consent covers the request (and the mode lets it be skipped), or the consent page is shown. */
async function consentGivenOrAsk(request: AuthorizeRequest, flow: AuthorizeFlow): Promise<StepResult> {
  const upstream = request.upstream!;
  const scope = effectiveScope(request.valid.requestedScopes, upstream);
  const user = request.user!;
  if (
    scope &&
    (await flow.authModes.for(upstream).canSkipConsent(upstream, user.id)) &&
    (await flow.consents.covers(user.id, request.valid.client.clientId, upstream.slug, scope))
  ) {
    request.scope = scope;
    return CONTINUE;
  }
  return flow.consent(request, [upstream]);
}

/** The code, sent to the client's redirect URI (OAuth 2.1 §4.1.2). */
async function code(request: AuthorizeRequest, flow: AuthorizeFlow): Promise<StepResult> {
  const { valid } = request;
  const code = await flow.grants.issueCode({
    clientId: valid.client.clientId,
    userId: request.user!.id,
    upstreamSlug: request.upstream!.slug,
    redirectUri: valid.redirectUri,
    codeChallenge: valid.codeChallenge,
    scope: request.scope!,
  });
  await flow.audit.recordNow({
    type: 'code.issue',
    outcome: 'success',
    clientId: valid.client.clientId,
    userId: request.user!.id,
    upstreamSlug: request.upstream!.slug,
    detail: { scope: request.scope },
  });
  return { redirect: flow.redirectUrl(valid.redirectUri, valid.state, { code }) };
}

// The consent form's answer (POST): every check has run again on the posted parameters.

function csrf({ req }: AuthorizeRequest, flow: AuthorizeFlow): StepResult {
  if (checkCsrf(req)) return CONTINUE;
  return { status: 403, html: errorPage(flow.config.basePath, 'Request expired', 'This consent form has expired. Start again from the application.') };
}

function upstreamChosen(request: AuthorizeRequest, flow: AuthorizeFlow): StepResult {
  const chosen = body(request).upstream;
  request.upstream ??= (typeof chosen === 'string' ? flow.upstreams.get(chosen) : undefined) ?? null;
  if (!request.upstream) throw new RedirectableError(new InvalidTarget('no MCP server was chosen'), request.valid.redirectUri, request.valid.state);
  return CONTINUE;
}

async function approved(request: AuthorizeRequest, flow: AuthorizeFlow): Promise<StepResult> {
  if (body(request).decision === 'approve') return CONTINUE;
  const { valid } = request;
  await flow.audit.recordNow({
    type: 'consent',
    outcome: 'failure',
    userId: request.user!.id,
    clientId: valid.client.clientId,
    upstreamSlug: request.upstream!.slug,
    detail: { decision: 'deny' },
  });
  throw new RedirectableError(new AccessDenied('the user denied access'), valid.redirectUri, valid.state);
}

function scopeOffered(request: AuthorizeRequest): StepResult {
  request.scope = effectiveScope(request.valid.requestedScopes, request.upstream!);
  if (!request.scope) throw new RedirectableError(new InvalidScope('requested scope is not offered by this MCP server'), request.valid.redirectUri, request.valid.state);
  return CONTINUE;
}

/** What the mode asks for at consent (e.g. the user's own credentials), stored; a bad value shows the form again. */
async function consentInputSaved(request: AuthorizeRequest, flow: AuthorizeFlow): Promise<StepResult> {
  const upstream = request.upstream!;
  try {
    await flow.authModes.for(upstream).saveConsentInput(upstream, request.user!.id, credentialInput(body(request)));
    return CONTINUE;
  } catch (err) {
    if (!(err instanceof ConsentInputError)) throw err;
    request.params = { ...request.params, resource: upstream.resource };
    return flow.consent(request, [upstream], { message: err.message, field: err.field });
  }
}

async function consentRemembered(request: AuthorizeRequest, flow: AuthorizeFlow): Promise<StepResult> {
  await flow.consents.remember(request.user!.id, request.valid.client.clientId, request.upstream!.slug, request.scope!);
  return CONTINUE;
}

/** GET /authorize: (audited) → sign-in → allow-list → the mode's prerequisite (for the bundle: its members') → consent → code. */
export const AUTHORIZE_STEPS: AuthorizeStep[] = [started, signIn, upstreamKnownOrAsk, allowList, prerequisiteOfRequest, bundleMembersSignedIn, consentGivenOrAsk, code];

/** POST /authorize (the consent form): sign-in → CSRF → the choice → allow-list → approve → consent stored → the mode's prerequisite → code. */
export const DECISION_STEPS: AuthorizeStep[] = [signIn, csrf, upstreamChosen, allowList, approved, scopeOffered, consentInputSaved, consentRemembered, prerequisiteOfChoice, code];

function body(request: AuthorizeRequest): Record<string, unknown> {
  return (request.req.body ?? {}) as Record<string, unknown>;
}

function credentialInput(form: Record<string, unknown>): Record<string, string> {
  const input: Record<string, string> = {};
  for (const [key, value] of Object.entries(form)) {
    const m = CREDENTIAL_FIELD.exec(key);
    if (m && typeof value === 'string') input[m[1]] = value;
  }
  return input;
}
