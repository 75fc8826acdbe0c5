import { text } from './doctor-report';
import type { DoctorContext, DoctorEvent, Severity } from './doctor-report';

/** A history (audit rows of one client or user, oldest first) with the questions the rules ask of it. */
export class History {
  constructor(readonly events: DoctorEvent[]) {}

  /** The newest row matching `match`, or null. */
  last(match: (e: DoctorEvent) => boolean): DoctorEvent | null {
    for (let i = this.events.length - 1; i >= 0; i--) if (match(this.events[i])) return this.events[i];
    return null;
  }

  /** Whether a row after `e` matches. */
  after(e: DoctorEvent, match: (later: DoctorEvent) => boolean): boolean {
    const i = this.events.indexOf(e);
    return this.events.slice(i + 1).some(match);
  }

  /** The newest `n` rows matching `match`, oldest first. */
  recent(n: number, match: (e: DoctorEvent) => boolean): DoctorEvent[] {
    const out: DoctorEvent[] = [];
    for (let i = this.events.length - 1; i >= 0 && out.length < n; i--) if (match(this.events[i])) out.unshift(this.events[i]);
    return out;
  }
}

/** A rule's finding: what went wrong and what to do, in plain words. */
export interface Finding {
  message: string;
  fix: string;
}

/** A known failure signature: a name, how bad it is, and a test over the history. */
export interface SignatureRule {
  name: string;
  severity: Severity;
  match(history: History, ctx: DoctorContext): Finding | null;
}

const is =
  (...types: string[]) =>
  (e: DoctorEvent) =>
    types.includes(e.type);
/** Every row the proxy writes for a request at /mcp (policy.deny is also written at /authorize: told apart by detail.step). */
const isMcp = (e: DoctorEvent) =>
  ['mcp.request', 'mcp.unauthorized', 'scope.deny', 'rate.limit', 'request.malformed', 'upstream.timeout', 'upstream.aborted', 'upstream.credential'].includes(e.type) ||
  (e.type === 'policy.deny' && e.detail?.step !== 'authorize');
const isAuthorizeDeny = (e: DoctorEvent) => e.type === 'policy.deny' && e.detail?.step === 'authorize';
const refusedBy = (check: string) => (e: DoctorEvent) => e.type === 'token.refused' && e.detail?.check === check;
const tokensIssued = is('token.issue');
const at = (e: DoctorEvent) => new Date(e.at).toISOString().replace('T', ' ').slice(0, 19) + ' UTC';
const upstreamOf = (e: DoctorEvent | null) => e?.upstreamSlug ?? '<slug>';

/** The last /token refusal of the grant type not followed by tokens, matching `match`. */
function lastTokenRefusal(h: History, grantType: string, match: (e: DoctorEvent) => boolean = () => true): DoctorEvent | null {
  const refused = h.last((e) => e.type === 'token.refused' && e.detail?.grant_type === grantType);
  if (!refused || !match(refused) || h.after(refused, is('token.issue', 'token.refresh'))) return null;
  return refused;
}

/** A row of this type with no tokens issued after it: the grant it ended was not replaced. */
function unresolved(h: History, type: string): boolean {
  const last = h.last(is(type));
  return last !== null && !h.after(last, tokensIssued);
}

/**
 * The known failure signatures, in order: each is reported when its test matches, the most
 * specific first. A rule looks at where the history ENDS (a failure followed by a success is
 * history, not a problem). Adding one: an entry here and a case in test/unit/doctor-signatures.spec.ts.
 */
export const SIGNATURES: SignatureRule[] = [
  {
    name: 'metadata_document_unusable',
    severity: 'error',
    match(h) {
      const last = h.last(is('client.metadata_document'));
      if (!last || last.outcome !== 'failure' || h.after(last, is('code.issue'))) return null;
      const reason = text(last.detail?.reason, '');
      const why: Record<string, Finding> = {
        ssrf_refused: {
          message: "The client's metadata document URL resolves to a private, loopback or otherwise non-public address: the gateway refused to fetch it (SSRF guard).",
          fix: 'Publish the document at a public https address. For a test setup only, client_metadata_documents.allow_private_networks: true lets the gateway fetch it.',
        },
        timeout: {
          message: "The client's metadata document did not answer in time.",
          fix: 'The host of the client_id URL must answer quickly (client_metadata_documents.fetch_timeout_ms); check that it is up and reachable from the gateway.',
        },
        http_status: {
          message: `The client's metadata document URL answered with an error (${text(last.detail?.message, '')}); redirects are not followed.`,
          fix: 'The client_id URL itself must answer 200 with the JSON document (no redirect).',
        },
        not_json: { message: "The client's metadata document is not JSON.", fix: 'Serve the document as a JSON object (Content-Type application/json) at the client_id URL.' },
        too_large: {
          message: "The client's metadata document is larger than the gateway accepts.",
          fix: 'Keep the document small (client_metadata_documents.max_document_bytes).',
        },
        invalid_document: {
          message: `The client's metadata document was fetched but cannot be used: ${text(last.detail?.message, '')}`,
          fix: 'Fix the document: client_id equal to its own URL, valid redirect_uris, token_endpoint_auth_method "none".',
        },
      };
      return (
        why[reason] ?? {
          message: `The client's metadata document could not be fetched: ${text(last.detail?.message, reason)}.`,
          fix: 'Check that the client_id URL is reachable from the gateway over https.',
        }
      );
    },
  },
  {
    name: 'registered_never_authorized',
    severity: 'error',
    match(h, ctx) {
      const registered = h.last(is('client.register'));
      if (!registered || h.after(registered, (e) => e.type !== 'client.register')) return null;
      return {
        message: `Registered at ${at(registered)}, then never came to /authorize: the client gave up before opening the sign-in page.`,
        fix: `Check that the gateway is reachable from the client's machine and from the internet over https at ${ctx.publicUrl} (the issuer and endpoints in /.well-known/oauth-authorization-server must use that address), and look at the client's own log for the error it hit.`,
      };
    },
  },
  {
    name: 'redirect_uri_not_registered',
    severity: 'error',
    match(h) {
      const refused = h.last(is('authorize.error'));
      if (!refused || refused.detail?.error !== 'invalid_redirect_uri' || h.after(refused, is('code.issue'))) return null;
      return {
        message: `/authorize refused the request: ${text(refused.detail?.reason, 'the redirect URI is not registered')}`,
        fix: 'The client uses a redirect URI it did not register (e.g. a new local port). Delete the client in the console so it registers again, or make it reuse the registered redirect URI.',
      };
    },
  },
  {
    name: 'authorize_refused',
    severity: 'error',
    match(h, ctx) {
      const refused = h.last(is('authorize.error'));
      if (!refused || refused.detail?.error === 'invalid_redirect_uri' || h.after(refused, is('code.issue', 'authorize.start'))) return null;
      const error = text(refused.detail?.error, '?');
      const fixes: Record<string, string> = {
        invalid_target: `The client asked for a resource that is no MCP server behind this gateway: its MCP URL must be ${ctx.publicUrl}/mcp/<slug> exactly.`,
        invalid_scope: "The client asked for scopes the MCP server does not offer: see the upstream's scopes in the console.",
        invalid_request: 'The client sent a malformed authorization request (e.g. without PKCE S256): it is not OAuth 2.1 compliant; update it.',
      };
      return {
        message: `/authorize refused the request: ${error}: ${text(refused.detail?.reason, '')}`,
        fix: fixes[error] ?? 'Fix the request the client sends to /authorize (RFC 6749 §4.1.2.1 names the error).',
      };
    },
  },
  {
    name: 'not_on_allow_list',
    severity: 'error',
    match(h, ctx) {
      const denied = h.last(isAuthorizeDeny);
      if (!denied || h.after(denied, is('code.issue'))) return null;
      return {
        message: `${ctx.emailOf(denied.userId) ?? 'The user'} is not on the allow-list of ${denied.upstreamSlug ?? 'any MCP server'}: no code was issued.`,
        fix: `Add the user (or their group or email domain) to the allow-list of ${denied.upstreamSlug ?? 'the MCP server'} in the console, then connect again.`,
      };
    },
  },
  {
    name: 'sign_in_not_completed',
    severity: 'error',
    match(h, ctx) {
      const started = h.last(is('authorize.start'));
      if (!started || started.detail?.signed_in !== false || h.after(started, (e) => e.type !== 'authorize.start')) return null;
      return {
        message: `Came to /authorize (last at ${at(started)}) but the user never completed sign-in at the gateway.`,
        fix: `Ask the user whether the sign-in page opened and their password worked (invite accepted, account enabled). The browser must reach ${ctx.publicUrl} and keep its cookies there (https when secure cookies are on, the same host as PUBLIC_URL).`,
      };
    },
  },
  {
    name: 'consent_denied',
    severity: 'error',
    match(h, ctx) {
      const denied = h.last((e) => e.type === 'consent' && e.outcome === 'failure');
      if (!denied || h.after(denied, is('code.issue', 'consent'))) return null;
      return {
        message: `${ctx.emailOf(denied.userId) ?? 'The user'} denied access on the consent page (access_denied was sent to the client).`,
        fix: 'Connect again from the client and choose Allow on the consent page.',
      };
    },
  },
  {
    name: 'consent_not_answered',
    severity: 'warning',
    match(h) {
      const started = h.last(is('authorize.start'));
      if (!started || started.detail?.signed_in !== true || h.after(started, () => true)) return null;
      return {
        message: `Signed in and came to /authorize (last at ${at(started)}), but the consent page was never answered.`,
        fix: 'Ask the user to finish in the browser (Allow or Deny). When the MCP server needs its own sign-in first, check that step (upstream sign-in rows in the audit log).',
      };
    },
  },
  {
    name: 'code_never_exchanged',
    severity: 'error',
    match(h, ctx) {
      const code = h.last(is('code.issue'));
      if (!code || h.after(code, is('token.issue', 'token.refused', 'code.replay'))) return null;
      return {
        message: `An authorization code was sent to the client's redirect URI at ${at(code)} but never exchanged at /token.`,
        fix: `The client did not receive the redirect (its local callback listener had stopped, or the browser could not open the redirect URI) or could not reach ${ctx.publicUrl}/token. Connect again and keep the client running until it reports the connection.`,
      };
    },
  },
  {
    name: 'code_reused',
    severity: 'error',
    match(h) {
      if (!unresolved(h, 'code.replay')) return null;
      return {
        message: 'Token refused: the authorization code was presented a second time, so the grant its first exchange created was revoked (OAuth 2.1 §4.1.3).',
        fix: 'Connect again. If it recurs, something retries the token request (the client, or a proxy between it and the gateway): a code may be used once.',
      };
    },
  },
  {
    name: 'pkce_mismatch',
    severity: 'error',
    match(h) {
      if (!lastTokenRefusal(h, 'authorization_code', refusedBy('codeVerifierMatchesChallenge'))) return null;
      return {
        message: 'Token refused (invalid_grant): the code_verifier does not match the code_challenge of the authorization request (PKCE, RFC 7636).',
        fix: 'The client mixed up two sign-ins (e.g. two windows at once) or lost its state between /authorize and /token. Connect again, one attempt at a time; if it recurs, the client is at fault.',
      };
    },
  },
  {
    name: 'redirect_uri_mismatch',
    severity: 'error',
    match(h) {
      if (!lastTokenRefusal(h, 'authorization_code', refusedBy('redirectUriIsTheAuthorizationRequests'))) return null;
      return {
        message: 'Token refused: the redirect_uri sent to /token is not the one of the authorization request.',
        fix: 'The client must send the same redirect_uri to /token as to /authorize (OAuth 2.1 §4.1.3); it may have changed its local port in between. Connect again.',
      };
    },
  },
  {
    name: 'code_expired',
    severity: 'error',
    match(h) {
      if (!lastTokenRefusal(h, 'authorization_code', refusedBy('codeIsUnexpired'))) return null;
      return {
        message: 'Token refused: the authorization code had expired before the client exchanged it.',
        fix: 'The client must exchange the code at once (oauth.authorization_code_ttl); check the clocks and whether the client stalls after the redirect. Connect again.',
      };
    },
  },
  {
    name: 'client_authentication_failed',
    severity: 'error',
    match(h) {
      const refused = h.last((e) => e.type === 'token.refused' && e.detail?.error === 'invalid_client');
      if (!refused || h.after(refused, is('token.issue', 'token.refresh'))) return null;
      return {
        message: `Token refused: client authentication failed (${text(refused.detail?.reason, '')}).`,
        fix: 'The client sends a wrong secret or another authentication method than it registered with. Delete the client in the console so it registers again.',
      };
    },
  },
  {
    name: 'refresh_token_reused',
    severity: 'error',
    match(h) {
      const reuse = h.last(is('token.reuse'));
      if (!reuse || !unresolved(h, 'token.reuse')) return null;
      return {
        message: `Refresh refused at ${at(reuse)}: a refresh token was used again after it had been replaced, so the gateway revoked the whole grant (reuse detection, RFC 9700 §4.14.2).`,
        fix: 'Connect again to get a new grant. A reuse usually means two copies of the client share one saved login (the same configuration on two machines, a restored backup) or the client lost the answer to a refresh; do not copy token stores, and raise oauth.refresh_grace_period if refreshes race.',
      };
    },
  },
  {
    name: 'refresh_refused',
    severity: 'error',
    match(h) {
      const refused = lastTokenRefusal(h, 'refresh_token');
      if (!refused || unresolved(h, 'token.reuse')) return null; // refresh_token_reused says it
      return {
        message: `Refresh refused: ${text(refused.detail?.error, '?')}: ${text(refused.detail?.reason, '')}.`,
        fix: 'The grant has ended or its refresh token expired: connect again (the user signs in and approves once more).',
      };
    },
  },
  {
    name: 'token_refused',
    severity: 'error',
    match(h) {
      const known = ['codeVerifierMatchesChallenge', 'redirectUriIsTheAuthorizationRequests', 'codeIsUnexpired', 'codeIsUnused'];
      const refused = lastTokenRefusal(h, 'authorization_code', (e) => !known.includes(text(e.detail?.check)) && e.detail?.error !== 'invalid_client');
      if (!refused || unresolved(h, 'code.replay')) return null; // code_reused says it
      return {
        message: `Token refused: ${text(refused.detail?.error, '?')}: ${text(refused.detail?.reason, '')}.`,
        fix: 'Fix the token request the client sends (RFC 6749 §5.2 names the error), then connect again.',
      };
    },
  },
  {
    name: 'tokens_but_no_mcp_call',
    severity: 'error',
    match(h, ctx) {
      const issued = h.last(tokensIssued);
      if (!issued || h.after(issued, isMcp)) return null;
      return {
        message: `Tokens were issued for ${upstreamOf(issued)} at ${at(issued)}, but the client never called /mcp with them.`,
        fix: `The client cannot reach ${ctx.publicUrl}/mcp/${upstreamOf(issued)} or uses another MCP URL than the one it authorized for (a token is bound to one MCP server, RFC 8707). Check the MCP URL configured in the client and that a reverse proxy in front forwards /mcp/.`,
      };
    },
  },
  {
    name: 'audience_mismatch',
    severity: 'error',
    match(h) {
      const refused = h.last((e) => e.type === 'mcp.unauthorized' && e.detail?.reason === 'audience');
      if (!refused || h.after(refused, (e) => e.type === 'mcp.request' && e.outcome === 'success' && e.upstreamSlug === refused.upstreamSlug)) return null;
      return {
        message: `401 at /mcp/${refused.upstreamSlug}: the client sends a token issued for ${text(refused.detail?.token_upstream, 'another MCP server')}.`,
        fix: `A token is valid at one MCP server only (RFC 8707). Connect the client to ${refused.upstreamSlug} on its own (it goes through /authorize for it).`,
      };
    },
  },
  {
    name: 'expired_token_not_refreshed',
    severity: 'warning',
    match(h) {
      const refused = h.last((e) => e.type === 'mcp.unauthorized' && e.detail?.reason === 'expired');
      if (!refused || h.after(refused, is('token.refresh', 'token.issue'))) return null;
      return {
        message: `401 at /mcp/${refused.upstreamSlug}: the client kept sending an expired access token instead of refreshing it.`,
        fix: 'The client should refresh when it gets 401 invalid_token; update it, or connect again.',
      };
    },
  },
  {
    name: 'grant_revoked',
    severity: 'warning',
    match(h) {
      const revoked = h.last(is('grant.revoke'));
      const reason = text(revoked?.detail?.reason, '');
      if (!revoked || ['refresh token reuse', 'authorization code replayed'].includes(reason) || h.after(revoked, tokensIssued)) return null;
      return {
        message: `The grant for ${upstreamOf(revoked)} was ended at ${at(revoked)} (${reason || 'revoked'}): its tokens answer 401 and its refresh token is refused.`,
        fix: 'Connect again from the client (the user signs in and approves once more).',
      };
    },
  },
  {
    name: 'mcp_forbidden',
    severity: 'warning',
    match(h, ctx) {
      const refused = h.recent(50, isMcp).filter((e) => e.type === 'scope.deny' || e.type === 'policy.deny');
      if (!refused.length) return null;
      const last = refused[refused.length - 1];
      if (last.type === 'scope.deny') {
        return {
          message: `403 at /mcp/${last.upstreamSlug}: ${last.mcpMethod ?? 'a request'} needs a scope the token was not granted (${refused.length} of the latest MCP requests).`,
          fix: 'The client should ask for the scope it needs (the 403 carries it in WWW-Authenticate: insufficient_scope) and the user approve it; or grant the scope when connecting.',
        };
      }
      return {
        message: `403 at /mcp/${last.upstreamSlug}: ${ctx.emailOf(last.userId) ?? 'the user'} is no longer on its allow-list.`,
        fix: `Add the user to the allow-list of ${last.upstreamSlug} in the console, or revoke the grant if the refusal is intended.`,
      };
    },
  },
  {
    name: 'upstream_errors',
    severity: 'warning',
    match(h) {
      const recent = h.recent(50, isMcp);
      const failed = recent.filter(
        (e) => (e.status !== null && e.status >= 500) || e.type === 'upstream.timeout' || e.type === 'upstream.aborted' || e.type === 'upstream.credential',
      );
      if (!failed.length) return null;
      const slugs = [...new Set(failed.map((e) => e.upstreamSlug))].join(', ');
      return {
        message: `${failed.length} of the latest ${recent.length} MCP requests failed at or behind the gateway (${[...new Set(failed.map((e) => e.status ?? e.type))].join(', ')}) for ${slugs}.`,
        fix: `Check the MCP server ${slugs}: in the console, Upstreams shows its probe state and "Test connection"; 502 is an unreachable server or a refused upstream credential, 504 a timeout.`,
      };
    },
  },
  {
    name: 'rate_limited',
    severity: 'info',
    match(h) {
      const limited = h.recent(50, isMcp).filter(is('rate.limit'));
      if (!limited.length) return null;
      return {
        message: `${limited.length} of the latest MCP requests were refused with 429 (rate limit).`,
        fix: 'The client sends faster than rate_limit.mcp_per_minute allows for one user at one MCP server; raise it if this is expected.',
      };
    },
  },
];

/** What to say when no rule matched. */
function noFinding(h: History): { rule: string; severity: Severity; message: string; fix: string } {
  if (!h.events.length) {
    return {
      rule: 'no_activity',
      severity: 'info',
      message: 'The gateway has no record of this subject in its audit log (within audit.retention_days).',
      fix: 'Nothing reached the gateway yet: check that the client points at this gateway.',
    };
  }
  const ok = h.last((e) => e.type === 'mcp.request' && e.outcome === 'success');
  return {
    rule: 'no_known_problem',
    severity: 'info',
    message: ok ? `No known failure signature; the last successful MCP request was at ${at(ok)}.` : 'No known failure signature in this history.',
    fix: 'If the user still sees an error, compare the timeline with what the client reports.',
  };
}

/** Every matching rule's finding, in the rules' order; one info finding when none matches. */
export function diagnose(events: DoctorEvent[], ctx: DoctorContext): { rule: string; severity: Severity; message: string; fix: string }[] {
  const h = new History(events);
  const found = SIGNATURES.flatMap((rule) => {
    const finding = rule.match(h, ctx);
    return finding ? [{ rule: rule.name, severity: rule.severity, ...finding }] : [];
  });
  return found.length ? found : [noFinding(h)];
}
