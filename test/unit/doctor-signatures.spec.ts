import type { DoctorContext, DoctorEvent } from '../../server/src/doctor/doctor-report';
import { diagnose, SIGNATURES } from '../../server/src/doctor/signatures';
import { buildTimeline } from '../../server/src/doctor/timeline';

/** A history from [type, outcome?, fields?] tuples, one second apart, oldest first. */
function history(...rows: Array<[string, Partial<DoctorEvent>?]>): DoctorEvent[] {
  return rows.map(([type, fields], i) => ({
    id: i + 1,
    at: Date.UTC(2026, 0, 1) + i * 1000,
    type,
    outcome: 'success',
    userId: 'u1',
    clientId: 'c1',
    upstreamSlug: 'notes',
    mcpMethod: null,
    tool: null,
    status: null,
    detail: null,
    ...fields,
  }));
}

const ctx = (kind: 'client' | 'user' = 'client'): DoctorContext => ({
  now: Date.UTC(2026, 0, 2),
  subjectKind: kind,
  publicUrl: 'https://gw.example.test',
  emailOf: (id) => (id === 'u1' ? 'ann@example.test' : null),
  clientNameOf: (id) => (id === 'c1' ? 'Claude' : null),
});

const rules = (events: DoctorEvent[]) => diagnose(events, ctx()).map((d) => d.rule);
const FAIL = { outcome: 'failure' as const };
const registered: [string, Partial<DoctorEvent>] = ['client.register', { userId: null, upstreamSlug: null, detail: { client_name: 'Claude', auth_method: 'none' } }];
const anonymous: [string, Partial<DoctorEvent>] = ['authorize.start', { userId: null, detail: { signed_in: false } }];
const signedIn: [string, Partial<DoctorEvent>] = ['authorize.start', { detail: { signed_in: true } }];
const ok: Array<[string, Partial<DoctorEvent>?]> = [
  registered,
  anonymous,
  signedIn,
  ['consent'],
  ['code.issue'],
  ['token.issue'],
  ['mcp.request', { status: 200, mcpMethod: 'initialize' }],
];
const refused = (grantType: string, error: string, check?: string): [string, Partial<DoctorEvent>] => [
  'token.refused',
  { ...FAIL, status: 400, detail: { grant_type: grantType, error, reason: 'r', ...(check ? { check } : {}) } },
];

describe('connection doctor: failure signatures (one case per rule)', () => {
  it('every rule has a distinct name and a case below', () => {
    const names = SIGNATURES.map((r) => r.name);
    expect(new Set(names).size).toBe(names.length);
    const covered = new Set(CASES.map((c) => c[0]));
    expect(names.filter((n) => !covered.has(n))).toEqual([]);
  });

  const CASES: Array<[string, DoctorEvent[]]> = [
    ['metadata_document_unusable', history(['client.metadata_document', { ...FAIL, detail: { reason: 'ssrf_refused', message: 'resolves to 10.0.0.1' } }])],
    ['registered_never_authorized', history(registered)],
    ['redirect_uri_not_registered', history(registered, ['authorize.error', { ...FAIL, userId: null, detail: { error: 'invalid_redirect_uri', reason: 'not registered' } }])],
    ['authorize_refused', history(registered, ['authorize.error', { ...FAIL, userId: null, detail: { error: 'invalid_target', reason: 'no such resource' } }])],
    ['not_on_allow_list', history(registered, anonymous, signedIn, ['policy.deny', { ...FAIL, detail: { step: 'authorize' } }])],
    ['sign_in_not_completed', history(registered, anonymous)],
    ['consent_denied', history(registered, anonymous, signedIn, ['consent', { ...FAIL, detail: { decision: 'deny' } }])],
    ['consent_not_answered', history(registered, anonymous, signedIn)],
    ['code_never_exchanged', history(registered, anonymous, signedIn, ['consent'], ['code.issue'])],
    [
      'code_reused',
      history(
        ...ok,
        ['code.replay', FAIL],
        ['grant.revoke', { detail: { reason: 'authorization code replayed' } }],
        refused('authorization_code', 'invalid_grant', 'codeIsUnused'),
      ),
    ],
    ['pkce_mismatch', history(registered, signedIn, ['code.issue'], refused('authorization_code', 'invalid_grant', 'codeVerifierMatchesChallenge'))],
    ['redirect_uri_mismatch', history(registered, signedIn, ['code.issue'], refused('authorization_code', 'invalid_grant', 'redirectUriIsTheAuthorizationRequests'))],
    ['code_expired', history(registered, signedIn, ['code.issue'], refused('authorization_code', 'invalid_grant', 'codeIsUnexpired'))],
    ['client_authentication_failed', history(registered, signedIn, ['code.issue'], refused('authorization_code', 'invalid_client'))],
    [
      'refresh_token_reused',
      history(...ok, ['token.refresh'], ['token.reuse', FAIL], ['grant.revoke', { detail: { reason: 'refresh token reuse' } }], refused('refresh_token', 'invalid_grant')),
    ],
    ['refresh_refused', history(...ok, refused('refresh_token', 'invalid_grant', 'refreshTokenIsUnexpired'))],
    ['token_refused', history(registered, signedIn, ['code.issue'], refused('authorization_code', 'invalid_target', 'resourceIsTheGrants'))],
    ['tokens_but_no_mcp_call', history(registered, anonymous, signedIn, ['consent'], ['code.issue'], ['token.issue'])],
    ['audience_mismatch', history(...ok, ['mcp.unauthorized', { ...FAIL, status: 401, detail: { reason: 'audience', token_upstream: 'crm' } }])],
    ['expired_token_not_refreshed', history(...ok, ['mcp.unauthorized', { ...FAIL, status: 401, detail: { reason: 'expired' } }])],
    ['grant_revoked', history(...ok, ['grant.revoke', { detail: { reason: 'revoked by an admin' } }])],
    ['mcp_forbidden', history(...ok, ['scope.deny', { ...FAIL, status: 403, mcpMethod: 'tools/call' }])],
    ['upstream_errors', history(...ok, ['mcp.request', { ...FAIL, status: 502 }], ['upstream.timeout', { ...FAIL, status: 504 }])],
    ['rate_limited', history(...ok, ['rate.limit', { ...FAIL, status: 429 }])],
  ];

  it.each(CASES)('%s is found in its history', (rule, events) => {
    const found = diagnose(events, ctx());
    const finding = found.find((d) => d.rule === rule);
    expect(finding).toBeDefined();
    expect(finding!.message.length).toBeGreaterThan(20);
    expect(finding!.fix.length).toBeGreaterThan(20);
  });

  it('the first rules are the most specific: a refresh reuse is not also a generic refresh refusal or a plain revocation', () => {
    const found = rules(
      history(...ok, ['token.refresh'], ['token.reuse', FAIL], ['grant.revoke', { detail: { reason: 'refresh token reuse' } }], refused('refresh_token', 'invalid_grant')),
    );
    expect(found).toContain('refresh_token_reused');
    expect(found).not.toContain('refresh_refused');
    expect(found).not.toContain('grant_revoked');
  });

  it('a code replay is not also a generic token refusal', () => {
    const found = rules(history(...ok, ['code.replay', FAIL], refused('authorization_code', 'invalid_grant')));
    expect(found).toEqual(expect.arrayContaining(['code_reused']));
    expect(found).not.toContain('token_refused');
  });

  it('a failure followed by success is history, not a problem', () => {
    expect(rules(history(registered, anonymous, ...ok.slice(2)))).toEqual(['no_known_problem']);
    expect(
      rules(
        history(...ok, ['token.reuse', FAIL], ['grant.revoke', { detail: { reason: 'refresh token reuse' } }], ['code.issue'], ['token.issue'], ['mcp.request', { status: 200 }]),
      ),
    ).toEqual(['no_known_problem']);
    expect(rules(history(registered, signedIn, ['consent', { ...FAIL }], signedIn, ['consent'], ['code.issue'], ['token.issue'], ['mcp.request', { status: 200 }]))).toEqual([
      'no_known_problem',
    ]);
  });

  it('says so when there is nothing to go on', () => {
    expect(diagnose([], ctx())).toEqual([expect.objectContaining({ rule: 'no_activity', severity: 'info' })]);
  });

  it('names the metadata document failure by its cause', () => {
    const msg = (reason: string) => diagnose(history(['client.metadata_document', { ...FAIL, detail: { reason, message: 'x' } }]), ctx())[0];
    expect(msg('ssrf_refused').message).toMatch(/SSRF guard/);
    expect(msg('ssrf_refused').fix).toMatch(/allow_private_networks/);
    expect(msg('timeout').message).toMatch(/did not answer in time/);
    expect(msg('not_json').message).toMatch(/not JSON/);
    // A later code means the pinned copy (or a retry) worked.
    expect(
      rules(history(['client.metadata_document', { ...FAIL, detail: { reason: 'timeout' } }], signedIn, ['code.issue'], ['token.issue'], ['mcp.request', { status: 200 }])),
    ).toEqual(['no_known_problem']);
  });

  it('the registration rule names the public URL to check', () => {
    const [d] = diagnose(history(registered), ctx());
    expect(d.message).toMatch(/never came to \/authorize/);
    expect(d.fix).toContain('https://gw.example.test');
  });
});

describe('connection doctor: timeline', () => {
  it('tells discovery, registration, sign-in, consent, code, token, first MCP call, and folds MCP request runs', () => {
    const events = history(
      [
        'client.register',
        {
          userId: null,
          upstreamSlug: null,
          detail: {
            client_name: 'Claude',
            discovery: { authorization_server_metadata_at: Date.UTC(2025, 11, 31, 23, 59, 59), protected_resource_metadata_at: null, upstream: null },
          },
        },
      ],
      anonymous,
      signedIn,
      ['consent', { detail: { scope: 'mcp' } }],
      ['code.issue'],
      ['token.issue'],
      ['mcp.request', { status: 200, mcpMethod: 'initialize' }],
      ['mcp.request', { status: 200, mcpMethod: 'tools/list' }],
      ['mcp.request', { status: 200, mcpMethod: 'tools/call', tool: 'add' }],
      ['mcp.request', { status: 200, mcpMethod: 'tools/call', tool: 'add' }],
      ['mcp.request', { ...FAIL, status: 502, mcpMethod: 'tools/call', tool: 'add' }],
    );
    const steps = buildTimeline(events, ctx());
    expect(steps.map((s) => s.step)).toEqual(['discovery', 'registration', 'authorize', 'sign_in', 'authorize', 'consent', 'code', 'token', 'first_mcp_call', 'mcp', 'mcp']);
    expect(steps[0].at).toBe(Date.UTC(2025, 11, 31, 23, 59, 59));
    expect(steps[3].detail).toBe('signed in as ann@example.test');
    expect(steps[9]).toMatchObject({ outcome: 'success', detail: expect.stringContaining('3 MCP requests to notes (tools/list, tools/call add ×2), status 200') });
    expect(steps[10]).toMatchObject({ outcome: 'failure', detail: expect.stringContaining('1 MCP request to notes') });
  });

  it('says when no discovery was seen before registering', () => {
    const steps = buildTimeline(history(registered), ctx());
    expect(steps[0]).toMatchObject({ step: 'discovery', detail: expect.stringMatching(/no discovery request seen/) });
  });

  it('names clients in a user timeline, users in a client timeline', () => {
    const events = history(['token.issue']);
    expect(buildTimeline(events, ctx('client'))[0].detail).toContain('ann@example.test');
    expect(buildTimeline(events, ctx('user'))[0].detail).toContain('client "Claude"');
  });
});
