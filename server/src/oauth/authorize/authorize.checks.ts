import { ClientMetadataError } from '../cimd/client-metadata.service';
import { OAuthClient } from '../client.entity';
import { InvalidRequest, InvalidScope, InvalidTarget, OAuthError, UnauthorizedClient, UnsupportedResponseType } from '../oauth.errors';
import { PKCE_VALUE } from '../pkce';
import { hasUserinfo, redirectUriMatches } from '../redirect-uri';
import { Upstream } from '../../upstreams/upstream';

export type AuthorizeParams = Record<string, unknown>;

/** An authorization request that passed every check. `upstream` is null when the user must choose one. */
export interface ValidAuthorization {
  client: OAuthClient;
  redirectUri: string;
  state: string | null;
  codeChallenge: string;
  upstream: Upstream | null;
  /** Requested scopes; empty means "all of the upstream's scopes". */
  requestedScopes: string[];
}

/** Failures before the redirect URI is trusted: shown as an HTML page, never redirected (RFC 6749 §4.1.2.1). */
export class UntrustedRedirect extends Error {
  constructor(
    readonly description: string,
    /** The known client whose request it was (a redirect URI it did not register), for the audit row; unset when the client is unknown. */
    readonly clientId?: string,
  ) {
    super(description);
  }
}

/** Failures after it: sent back to the client's redirect URI with state and iss. */
export class RedirectableError extends Error {
  constructor(
    readonly oauth: OAuthError,
    readonly redirectUri: string,
    readonly state: string | null,
  ) {
    super(oauth.description);
  }
}

export interface AuthorizeContext {
  findClient(clientId: unknown): Promise<OAuthClient | null>;
  upstreamByResource(resource: string): Upstream | undefined;
  upstreams(): Upstream[];
  /** The upstream this client is known to be after when it omits `resource`, if any. */
  hintedUpstream(clientId: string): Upstream | undefined;
}

/** The ordered checks of OAuth 2.1 §4.1.1 with PKCE (RFC 7636) and resource indicators (RFC 8707). */
export async function validateAuthorization(params: AuthorizeParams, ctx: AuthorizeContext): Promise<ValidAuthorization> {
  const client = await checkClient(params, ctx);
  const redirectUri = checkRedirectUri(params, client);
  const state = typeof params.state === 'string' && params.state ? params.state : null;
  const fail = (e: OAuthError) => new RedirectableError(e, redirectUri, state);
  try {
    checkSingleValued(params);
    checkResponseType(params, client);
    const codeChallenge = checkPkce(params);
    const upstream = checkResource(params, client, ctx);
    const requestedScopes = checkScope(params, upstream, ctx);
    return { client, redirectUri, state, codeChallenge, upstream, requestedScopes };
  } catch (err) {
    if (err instanceof OAuthError) throw fail(err);
    throw err;
  }
}

async function checkClient(params: AuthorizeParams, ctx: AuthorizeContext): Promise<OAuthClient> {
  if (typeof params.client_id !== 'string' || !params.client_id) throw new UntrustedRedirect('The request has no client_id.');
  const client = await ctx.findClient(params.client_id).catch((err: Error) => {
    if (err instanceof ClientMetadataError) throw new UntrustedRedirect(err.message);
    throw err;
  });
  if (!client) throw new UntrustedRedirect('This application is not registered with this gateway (unknown client_id).');
  return client;
}

function checkRedirectUri(params: AuthorizeParams, client: OAuthClient): string {
  const requested = params.redirect_uri;
  if (requested === undefined && client.redirectUris.length === 1) return client.redirectUris[0];
  if (typeof requested !== 'string' || !requested) throw new UntrustedRedirect('The request has no redirect_uri.', client.clientId);
  if (hasUserinfo(requested)) throw new UntrustedRedirect('The redirect_uri must not contain a user name or password.', client.clientId);
  if (!client.redirectUris.some((registered) => redirectUriMatches(registered, requested))) {
    throw new UntrustedRedirect('The redirect_uri is not one this application registered.', client.clientId);
  }
  return requested;
}

function checkSingleValued(params: AuthorizeParams): void {
  // RFC 6749 §3.1: parameters must not be repeated (resource may be, RFC 8707 §2, but we bind one).
  for (const [name, value] of Object.entries(params)) {
    if (Array.isArray(value)) {
      if (name === 'resource') throw new InvalidTarget('only one resource may be requested');
      throw new InvalidRequest(`parameter ${name} is repeated`);
    }
  }
}

function checkResponseType(params: AuthorizeParams, client: OAuthClient): void {
  if (params.response_type === undefined) throw new InvalidRequest('response_type is required');
  if (params.response_type !== 'code') throw new UnsupportedResponseType('only response_type=code is supported');
  if (!client.responseTypes.includes('code')) throw new UnauthorizedClient('client is not registered for response_type=code');
}

function checkPkce(params: AuthorizeParams): string {
  const challenge = params.code_challenge;
  if (typeof challenge !== 'string' || !challenge) throw new InvalidRequest('code_challenge is required (PKCE)');
  if (params.code_challenge_method !== 'S256') {
    throw new InvalidRequest('code_challenge_method must be S256');
  }
  if (!PKCE_VALUE.test(challenge)) throw new InvalidRequest('code_challenge is malformed');
  return challenge;
}

/** RFC 8707; without `resource`: the one the client discovered (an upstream or the bundle), else the only upstream, else the user picks. */
function checkResource(params: AuthorizeParams, client: OAuthClient, ctx: AuthorizeContext): Upstream | null {
  const resource = params.resource;
  if (resource === undefined || resource === '') {
    const all = ctx.upstreams();
    if (all.length === 0) throw new InvalidTarget('this gateway has no upstream MCP servers');
    // The hint first: with a single upstream, a client of the bundle (/mcp) must still get the bundle.
    return ctx.hintedUpstream(client.clientId) ?? (all.length === 1 ? all[0] : null);
  }
  const upstream = typeof resource === 'string' ? ctx.upstreamByResource(resource) : undefined;
  if (!upstream) throw new InvalidTarget('resource is not an MCP server behind this gateway');
  return upstream;
}

function checkScope(params: AuthorizeParams, upstream: Upstream | null, ctx: AuthorizeContext): string[] {
  if (params.scope !== undefined && typeof params.scope !== 'string') throw new InvalidScope('scope must be a string');
  // offline_access is accepted and ignored: refresh tokens are issued without it.
  const requested = (params.scope ?? '').split(' ').filter((s) => s && s !== 'offline_access');
  const known = new Set(upstream ? upstream.scopes : ctx.upstreams().flatMap((u) => u.scopes));
  const unknown = requested.filter((s) => !known.has(s));
  if (unknown.length) throw new InvalidScope(`unknown scope: ${unknown.join(' ')}`);
  return requested;
}

/** The scope a token gets at an upstream: what was asked for, or everything the upstream offers. */
export function effectiveScope(requested: string[], upstream: Upstream): string | null {
  if (!requested.length) return upstream.scopes.join(' ');
  return requested.every((s) => upstream.scopes.includes(s)) ? requested.join(' ') : null;
}
