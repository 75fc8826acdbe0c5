import { text } from './doctor-report';
import type { DoctorContext, DoctorEvent, DoctorStep } from './doctor-report';

const PROXIED = 'mcp.request';

/**
 * The steps of a history (audit rows, oldest first) in words: one step per OAuth event, the
 * discovery seen before a registration, a sign-in between an anonymous and a signed-in
 * /authorize, the first MCP call, and runs of MCP requests with the same outcome folded into one
 * step ("12 MCP requests: tools/call ×10, initialize ×2"). Rows the doctor has no words for
 * (vault, admin actions) are left out.
 */
export function buildTimeline(events: DoctorEvent[], ctx: DoctorContext): DoctorStep[] {
  const steps: DoctorStep[] = [];
  let run: { first: DoctorEvent; last: DoctorEvent; methods: Map<string, number>; statuses: Set<number>; count: number } | null = null;
  let sawRequest = false;
  let awaitingSignIn = false;
  const endRun = () => {
    if (!run) return;
    const methods = [...run.methods].map(([m, n]) => (n > 1 ? `${m} ×${n}` : m)).join(', ');
    const statuses = [...run.statuses].sort().join(', ');
    steps.push({
      at: run.last.at,
      step: 'mcp',
      outcome: run.first.outcome,
      detail: `${run.count} MCP request${run.count === 1 ? '' : 's'} to ${run.first.upstreamSlug ?? '?'}${methods ? ` (${methods})` : ''}, status ${statuses}${run.count > 1 ? `, since ${new Date(run.first.at).toISOString()}` : ''}`,
    });
    run = null;
  };
  for (const e of events) {
    if (e.type === PROXIED) {
      if (!sawRequest) {
        sawRequest = true;
        endRun();
        steps.push({ at: e.at, step: 'first_mcp_call', outcome: e.outcome, detail: `first MCP request${on(e)}: ${e.mcpMethod ?? '?'}, status ${e.status ?? '?'}${by(e, ctx)}` });
        continue;
      }
      const key = `${e.outcome}|${e.upstreamSlug}`;
      if (run && `${run.first.outcome}|${run.first.upstreamSlug}` !== key) endRun();
      run ??= { first: e, last: e, methods: new Map(), statuses: new Set(), count: 0 };
      run.last = e;
      run.count++;
      if (e.status !== null) run.statuses.add(e.status);
      const method = e.tool ? `${e.mcpMethod} ${e.tool}` : (e.mcpMethod ?? '?');
      run.methods.set(method, (run.methods.get(method) ?? 0) + 1);
      continue;
    }
    endRun();
    if (e.type === 'authorize.start') {
      const signedIn = e.detail?.signed_in === true;
      if (signedIn && awaitingSignIn) steps.push({ at: e.at, step: 'sign_in', outcome: 'success', detail: `signed in as ${ctx.emailOf(e.userId) ?? 'a user'}` });
      awaitingSignIn = !signedIn;
    }
    steps.push(...stepsOf(e, ctx));
  }
  endRun();
  return steps;
}

/** The words for one row other than a proxied request (none for rows outside a connection's story). */
function stepsOf(e: DoctorEvent, ctx: DoctorContext): DoctorStep[] {
  const d = e.detail ?? {};
  const step = (name: string, detail: string, at = e.at): DoctorStep => ({ at, step: name, outcome: e.outcome, detail });
  const reason = typeof d.reason === 'string' ? d.reason : '';
  switch (e.type) {
    case 'client.register': {
      const out: DoctorStep[] = [];
      const discovery = (d.discovery ?? {}) as Record<string, unknown>;
      const asAt = numberOr(discovery.authorization_server_metadata_at);
      const prAt = numberOr(discovery.protected_resource_metadata_at);
      if (prAt !== null)
        out.push({ at: prAt, step: 'discovery', outcome: 'success', detail: `fetched the protected resource metadata of ${text(discovery.upstream, '?')} (RFC 9728)` });
      if (asAt !== null) out.push({ at: asAt, step: 'discovery', outcome: 'success', detail: 'fetched the authorization server metadata (RFC 8414)' });
      if (asAt === null && prAt === null)
        out.push(step('discovery', 'no discovery request seen from the same address and program in the half hour before registering (it may have used cached metadata)'));
      out.sort((a, b) => a.at - b.at);
      const agent = typeof d.user_agent === 'string' && d.user_agent ? `, User-Agent ${JSON.stringify(d.user_agent)}` : '';
      out.push(step('registration', `registered as ${JSON.stringify(d.client_name ?? 'unnamed')} (RFC 7591, ${text(d.auth_method, '?')})${agent}`));
      return out;
    }
    case 'client.metadata_document':
      return [
        step(
          'metadata_document',
          e.outcome === 'success'
            ? 'fetched the client ID metadata document'
            : `could not use the client ID metadata document (${text(d.reason, '?')}): ${text(d.message, '')}${d.pinned_used ? '; used the pinned copy' : ''}`,
        ),
      ];
    case 'authorize.start':
      return [step('authorize', `came to /authorize${on(e)}${d.signed_in ? ` signed in as ${ctx.emailOf(e.userId) ?? 'a user'}` : ', not signed in: sent to the sign-in page'}`)];
    case 'authorize.error':
      return [step('authorize', `/authorize refused the request: ${text(d.error, '?')}: ${reason}`)];
    case 'policy.deny':
      return [
        step(d.step === 'authorize' ? 'authorize' : 'mcp', `${ctx.emailOf(e.userId) ?? 'the user'} is not on the allow-list${on(e)}${e.status ? ` (status ${e.status})` : ''}`),
      ];
    case 'login':
      return ctx.subjectKind === 'user' ? [step('sign_in', e.outcome === 'success' ? 'signed in at the gateway' : 'a sign-in with this email failed')] : [];
    case 'consent':
      return [
        step('consent', e.outcome === 'success' ? `approved${on(e)}${d.scope ? ` (scope ${text(d.scope)})` : ''}${by(e, ctx)}` : `denied on the consent page${on(e)}${by(e, ctx)}`),
      ];
    case 'code.issue':
      return [step('code', `authorization code sent to the client's redirect URI${on(e)}${by(e, ctx)}`)];
    case 'token.issue':
      return [step('token', `code exchanged for tokens${on(e)}${by(e, ctx)}`)];
    case 'token.refresh':
      return [step('refresh', `tokens refreshed${on(e)}`)];
    case 'token.reuse':
      return [step('refresh', 'an old refresh token was used again after rotation: reuse')];
    case 'code.replay':
      return [step('token', 'an authorization code was used a second time')];
    case 'token.refused':
      return [step(d.grant_type === 'refresh_token' ? 'refresh' : 'token', `/token refused (${text(d.grant_type, '?')}): ${text(d.error, '?')}: ${reason}`)];
    case 'token.revoke':
      return [step('revocation', 'the client revoked an access token')];
    case 'grant.revoke':
      return [step('revocation', `grant ended${on(e)}: ${reason || 'revoked'}`)];
    case 'mcp.unauthorized':
      return [
        step(
          'mcp',
          d.reason === 'audience'
            ? `401 at /mcp/${e.upstreamSlug}: the token was issued for ${text(d.token_upstream, 'another upstream')}`
            : `401 at /mcp/${e.upstreamSlug}: the access token had expired`,
        ),
      ];
    case 'scope.deny':
      return [step('mcp', `403 at /mcp/${e.upstreamSlug}: ${e.mcpMethod ?? 'the request'} needs a scope the token lacks`)];
    case 'rate.limit':
      return [step('mcp', `429 at /mcp/${e.upstreamSlug}: rate limit`)];
    case 'request.malformed':
      return [step('mcp', `refused a malformed request at /mcp/${e.upstreamSlug} (status ${e.status ?? '?'})`)];
    case 'upstream.timeout':
    case 'upstream.aborted':
    case 'upstream.credential':
      return [step('mcp', `${e.type} at ${e.upstreamSlug}${reason ? `: ${reason}` : ''} (status ${e.status ?? '?'})`)];
    case 'upstream.signin':
      return [step('upstream_sign_in', e.outcome === 'success' ? `signed in at ${e.upstreamSlug}` : `sign-in at ${e.upstreamSlug} failed${reason ? `: ${reason}` : ''}`)];
    case 'upstream.token_refresh':
      return e.outcome === 'failure' ? [step('upstream_sign_in', `the upstream token of ${e.upstreamSlug} could not be refreshed${reason ? `: ${reason}` : ''}`)] : [];
    default:
      return [];
  }
}

function on(e: DoctorEvent): string {
  return e.upstreamSlug ? ` for ${e.upstreamSlug}` : '';
}

function by(e: DoctorEvent, ctx: DoctorContext): string {
  if (ctx.subjectKind === 'client') {
    const email = ctx.emailOf(e.userId);
    return email ? ` (${email})` : '';
  }
  const name = ctx.clientNameOf(e.clientId);
  return e.clientId ? ` (client ${name ? JSON.stringify(name) : e.clientId})` : '';
}

function numberOr(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}
