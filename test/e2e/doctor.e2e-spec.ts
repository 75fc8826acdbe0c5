import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Browser, chromium } from 'playwright-core';
import { startUpstream, RunningUpstream } from '../fixtures/upstream-mcp-server';
import { adminApi, AdminCall, consoleSessionOf, signInToConsole } from '../helpers/admin-api';
import { TestBrowser } from '../helpers/browser';
import { runCli } from '../helpers/cli';
import { ADMIN, freePort, startTestGateway, TestGateway } from '../helpers/gateway';
import { connectWithOAuth } from '../helpers/oauth-client';
import { authorizeUrl, call, mcpPost, obtainCode, pkce, registerPublicClient, tokenRequest } from '../helpers/raw-oauth';

const PASSWORD = 'a perfectly long password';
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ROOT = join(__dirname, '..', '..');
const AGENT = { 'User-Agent': 'doctor-e2e/1.0' };

/**
 * The connection doctor over real flows: a gateway on loopback with a real upstream MCP server,
 * the real SDK client through discovery, registration, sign-in, consent, token and MCP calls, and
 * raw OAuth requests for the broken cases; read back through the admin API and `gatehouse doctor`.
 */
describe('connection doctor', () => {
  let upstream: RunningUpstream;
  let gw: TestGateway;
  let base: string;
  let api: AdminCall;
  let auditor: AdminCall;
  let member: AdminCall;
  let cwd: string;
  let browser: Browser | undefined;

  // The gateway's own database: on PostgreSQL (GATEHOUSE_TEST_DB=postgres) the command needs its URL.
  // Options first: after a `--`, everything is the subject.
  const doctor = (cli: string[]) => runCli(['doctor', '--data-dir', gw.dataDir, ...cli], { cwd, env: { DATABASE_URL: gw.config.database?.url ?? undefined } });
  const rulesOf = (report: any) => report.diagnosis.map((d: any) => d.rule);
  const stepsOf = (report: any) => report.steps.map((s: any) => s.step);

  async function onboard(email: string, role: string): Promise<AdminCall> {
    const created = await api('POST', '/users', { email, role });
    expect(created.status).toBe(201);
    const browser = new TestBrowser();
    expect((await browser.submit(await browser.get(created.json.inviteUrl), { password: PASSWORD, confirm: PASSWORD })).status).toBe(303);
    return adminApi(base, await consoleSessionOf(base, browser));
  }

  beforeAll(async () => {
    cwd = mkdtempSync(join(tmpdir(), 'gatehouse-doctor-'));
    upstream = await startUpstream();
    // No refresh grace window: a rotated refresh token presented again is a reuse at once.
    // 'down' points at a loopback port nothing listens on: its probe finds it unreachable.
    const closedPort = await freePort();
    gw = await startTestGateway({
      config: {
        oauth: { refresh_grace_period: 0 },
        upstreams: [
          { slug: 'notes', name: 'Notes', url: upstream.url },
          { slug: 'down', name: 'Down', url: `http://127.0.0.1:${closedPort}/mcp` },
        ],
      },
    });
    base = gw.config.publicUrl;
    api = adminApi(base, await signInToConsole(base, ADMIN));
    auditor = await onboard('auditor@example.test', 'auditor');
    member = await onboard('member@example.test', 'member');
  });

  afterAll(async () => {
    await browser?.close();
    await gw?.close();
    gw?.cleanup();
    await upstream?.close();
    rmSync(cwd, { recursive: true, force: true });
  });

  it('registered, then nothing: the discovery it made, and "never came to /authorize"', async () => {
    expect((await call(`${base}/.well-known/oauth-protected-resource/mcp/notes`, { headers: AGENT })).status).toBe(200);
    expect((await call(`${base}/.well-known/oauth-authorization-server`, { headers: AGENT })).status).toBe(200);
    const registered = await call(`${base}/register`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...AGENT },
      body: JSON.stringify({ client_name: 'Gave Up', redirect_uris: ['http://127.0.0.1:9999/cb'], token_endpoint_auth_method: 'none' }),
    });
    expect(registered.status).toBe(201);
    const clientId = registered.json.client_id;

    const res = await auditor('GET', `/doctor/clients/${clientId}`);
    expect(res.status).toBe(200);
    expect(res.json.subject).toEqual({ kind: 'client', clientId, name: 'Gave Up', clientKind: 'dynamic', known: true });
    expect(stepsOf(res.json)).toEqual(['discovery', 'discovery', 'registration']);
    expect(res.json.steps[0].detail).toMatch(/protected resource metadata of notes/);
    expect(res.json.steps[2].detail).toMatch(/doctor-e2e\/1\.0/);
    expect(res.json.steps.every((s: any) => typeof s.at === 'number' && s.at <= Date.now())).toBe(true);
    expect(res.json.diagnosis[0]).toMatchObject({ rule: 'registered_never_authorized', severity: 'error', message: expect.stringMatching(/never came to \/authorize/) });
    expect(res.json.diagnosis[0].fix).toContain(base);

    // `--` before the subject (what the console shows for an id that starts with '-') works too.
    const cli = await doctor(['--', clientId]);
    expect(cli.code).toBe(0);
    expect(cli.stdout).toContain(`Client "Gave Up" ${clientId} (dynamic)`);
    expect(cli.stdout).toMatch(/registration +registered as "Gave Up"/);
    expect(cli.stdout).toContain('[registered_never_authorized]');
  });

  it('a full good flow: every step in order, the first MCP call, no known problem (API, CLI --json, and by user)', async () => {
    const { client, provider } = await connectWithOAuth(gw.mcpUrl('notes'), ADMIN, { clientName: 'Good Client' });
    await client.callTool({ name: 'echo', arguments: { text: 'hi' } });
    await client.close();
    const clientId = provider.clientInformation()!.client_id;

    const res = await api('GET', `/doctor/clients/${encodeURIComponent(clientId)}`);
    expect(res.status).toBe(200);
    const steps = stepsOf(res.json);
    const order = ['registration', 'authorize', 'sign_in', 'authorize', 'consent', 'code', 'token', 'first_mcp_call'];
    expect(steps.filter((s: string) => order.includes(s))).toEqual(order);
    expect(steps[steps.length - 1]).toBe('mcp');
    expect(res.json.steps.find((s: any) => s.step === 'sign_in').detail).toBe(`signed in as ${ADMIN.email}`);
    expect(res.json.steps.find((s: any) => s.step === 'first_mcp_call').detail).toMatch(/initialize, status 200/);
    expect(rulesOf(res.json)).toEqual(['no_known_problem']);
    // Nothing secret in any step: no code, token or query string.
    const text = JSON.stringify(res.json);
    for (const secret of [provider.tokens()!.access_token, provider.tokens()!.refresh_token!, 'code_challenge', 'state=']) expect(text).not.toContain(secret);

    const cli = await doctor([clientId, '--json']);
    expect(cli.code).toBe(0);
    const fromCli = JSON.parse(cli.stdout);
    expect(fromCli.subject).toEqual(res.json.subject);
    expect(stepsOf(fromCli)).toEqual(steps);
    expect(rulesOf(fromCli)).toEqual(['no_known_problem']);

    const session = await api('GET', '/session');
    const byUser = await api('GET', `/doctor/users/${session.json.user.id}`);
    expect(byUser.status).toBe(200);
    expect(byUser.json.subject).toMatchObject({ kind: 'user', email: ADMIN.email, role: 'admin' });
    expect(stepsOf(byUser.json)).toEqual(expect.arrayContaining(['sign_in', 'consent', 'token', 'first_mcp_call']));
    expect(byUser.json.steps.find((s: any) => s.step === 'token').detail).toContain('"Good Client"');

    const byEmail = await doctor([ADMIN.email]);
    expect(byEmail.code).toBe(0);
    expect(byEmail.stdout).toContain(`User ${ADMIN.email}`);
  });

  it('a reused refresh token: "refresh refused: reused refresh token, grant revoked"', async () => {
    const { client, provider } = await connectWithOAuth(gw.mcpUrl('notes'), ADMIN, { clientName: 'Reuser' });
    await client.close();
    const clientId = provider.clientInformation()!.client_id;
    const first = provider.tokens()!.refresh_token!;
    const rotated = await tokenRequest(base, { grant_type: 'refresh_token', refresh_token: first, client_id: clientId });
    expect(rotated.status).toBe(200);
    const reused = await tokenRequest(base, { grant_type: 'refresh_token', refresh_token: first, client_id: clientId });
    expect(reused.json.error).toBe('invalid_grant');

    const res = await api('GET', `/doctor/clients/${clientId}`);
    expect(res.status).toBe(200);
    expect(rulesOf(res.json)[0]).toBe('refresh_token_reused');
    expect(res.json.diagnosis[0].message).toMatch(/revoked the whole grant/);
    expect(rulesOf(res.json)).not.toContain('refresh_refused');
    // (The proxy's rows are written when a response closes, so the session's DELETE may land among these.)
    const tail = res.json.steps
      .filter((s: any) => s.step !== 'mcp')
      .slice(-4)
      .map((s: any) => [s.step, s.outcome]);
    expect(tail).toEqual([
      ['refresh', 'success'],
      ['refresh', 'failure'],
      ['revocation', 'success'],
      ['refresh', 'failure'],
    ]);
    expect(res.json.steps.filter((s: any) => s.step === 'refresh').pop().detail).toMatch(/invalid_grant: refresh token was already used; the grant has been revoked/);
    for (const secret of [first, rotated.json.refresh_token, rotated.json.access_token]) expect(JSON.stringify(res.json)).not.toContain(secret);

    const cli = await doctor([clientId]);
    expect(cli.stdout).toContain('[refresh_token_reused]');
  });

  it('a PKCE mismatch at /token and a code never exchanged', async () => {
    const redirectUri = 'http://127.0.0.1:9998/cb';
    const { client_id: clientId } = await registerPublicClient(base, redirectUri);
    const { challenge } = pkce();
    const browser = new TestBrowser();
    const code = await obtainCode(base, browser, ADMIN, { clientId, redirectUri, challenge, resource: gw.mcpUrl('notes') });
    let res = await api('GET', `/doctor/clients/${clientId}`);
    expect(rulesOf(res.json)[0]).toBe('code_never_exchanged');

    const wrong = await tokenRequest(base, { grant_type: 'authorization_code', code, redirect_uri: redirectUri, client_id: clientId, code_verifier: pkce().verifier });
    expect(wrong.json.error).toBe('invalid_grant');
    res = await api('GET', `/doctor/clients/${clientId}`);
    expect(rulesOf(res.json)[0]).toBe('pkce_mismatch');
    expect(JSON.stringify(res.json)).not.toContain(code);
  });

  it('a user who never finished signing in', async () => {
    const redirectUri = 'http://127.0.0.1:9997/cb';
    const { client_id: clientId } = await registerPublicClient(base, redirectUri);
    const { challenge } = pkce();
    const start = await call(
      authorizeUrl(base, {
        response_type: 'code',
        client_id: clientId,
        redirect_uri: redirectUri,
        code_challenge: challenge,
        code_challenge_method: 'S256',
        resource: gw.mcpUrl('notes'),
      }),
    );
    expect(start.status).toBe(302);
    const res = await api('GET', `/doctor/clients/${clientId}`);
    expect(rulesOf(res.json)[0]).toBe('sign_in_not_completed');
  });

  it('a redirect URI the client did not register, and a token sent to another upstream (RFC 8707 audience)', async () => {
    const redirectUri = 'http://127.0.0.1:9995/cb';
    const { client_id: clientId } = await registerPublicClient(base, redirectUri);
    const { challenge } = pkce();
    const params = { response_type: 'code', client_id: clientId, code_challenge: challenge, code_challenge_method: 'S256', resource: gw.mcpUrl('notes') };
    const page = await call(authorizeUrl(base, { ...params, redirect_uri: 'http://127.0.0.1:9995/other?x=secret-looking' }));
    expect(page.status).toBe(400);
    let res = await api('GET', `/doctor/clients/${clientId}`);
    expect(rulesOf(res.json)[0]).toBe('redirect_uri_not_registered');
    expect(JSON.stringify(res.json)).not.toContain('secret-looking');

    // Now a good authorization, and the token used at the wrong MCP server.
    const { verifier, challenge: good } = pkce();
    const code = await obtainCode(base, new TestBrowser(), ADMIN, { clientId, redirectUri, challenge: good, resource: gw.mcpUrl('notes') });
    const tokens = await tokenRequest(base, { grant_type: 'authorization_code', code, redirect_uri: redirectUri, client_id: clientId, code_verifier: verifier });
    expect(tokens.status).toBe(200);
    const wrong = await mcpPost(gw.mcpUrl('down'), tokens.json.access_token);
    expect(wrong.status).toBe(401);
    res = await api('GET', `/doctor/clients/${clientId}`);
    expect(rulesOf(res.json)[0]).toBe('audience_mismatch');
    expect(res.json.diagnosis[0].message).toBe('401 at /mcp/down: the client sends a token issued for notes.');
    expect(res.json.steps[res.json.steps.length - 1]).toMatchObject({ step: 'mcp', outcome: 'failure', detail: '401 at /mcp/down: the token was issued for notes' });
    expect(JSON.stringify(res.json)).not.toContain(tokens.json.access_token);
  });

  it('a metadata document the SSRF guard refuses (loopback), named as such', async () => {
    const clientId = 'https://127.0.0.1:1/client.json';
    const page = await call(authorizeUrl(base, { response_type: 'code', client_id: clientId, code_challenge: pkce().challenge, code_challenge_method: 'S256' }));
    expect(page.status).toBe(400);
    const res = await api('GET', `/doctor/clients/${encodeURIComponent(clientId)}`);
    expect(res.status).toBe(200);
    expect(res.json.subject).toMatchObject({ kind: 'client', clientId, known: false });
    expect(res.json.steps).toEqual([expect.objectContaining({ step: 'metadata_document', outcome: 'failure', detail: expect.stringContaining('ssrf_refused') })]);
    expect(res.json.diagnosis[0]).toMatchObject({ rule: 'metadata_document_unusable', message: expect.stringMatching(/SSRF guard/) });
  });

  it('who may read it, and unknown subjects: 401, 403, 404; the CLI exits 1', async () => {
    const anonymous = adminApi(base, null);
    expect((await anonymous('GET', '/doctor/clients/x')).status).toBe(401);
    expect((await member('GET', '/doctor/clients/x')).status).toBe(403);
    expect((await member('GET', '/doctor/users/x')).status).toBe(403);
    const missing = await auditor('GET', '/doctor/clients/no-such-client');
    expect(missing.status).toBe(404);
    expect(missing.json.error).toBe('not_found');
    expect((await auditor('GET', '/doctor/users/no-such-user')).status).toBe(404);
    const cli = await doctor(['nobody@example.test']);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toMatch(/^gatehouse: no client or user "nobody@example.test"/);
    // A subject that starts with '-' (client ids registered before they were kept from it): after
    // `--` it is the subject, not an unknown option (exit 2).
    const dashed = await doctor(['--', '-x7Kq2']);
    expect(dashed.code).toBe(1);
    expect(dashed.stderr).toMatch(/^gatehouse: no client or user "-x7Kq2"/);
    const help = await runCli(['doctor', '--help'], { cwd });
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--json');
  });

  it('in the console: Doctor from the client list and from the user page; the upstream list shows its probe', async () => {
    if (!existsSync(join(ROOT, 'dist', 'web', 'index.html'))) throw new Error('dist/web is missing: run `npm run build:web` (npm test does it first)');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
    });
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${base}/login`);
    await page.fill('#email', ADMIN.email);
    await page.fill('#password', ADMIN.password);
    await Promise.all([page.waitForURL((u) => u.pathname.startsWith('/admin/')), page.click('button[type=submit]')]);

    const { client_id: clientId } = await registerPublicClient(base, 'http://127.0.0.1:9996/cb', { client_name: 'Console Check' });
    await page.goto(`${base}/admin/clients?q=${encodeURIComponent('Console Check')}`);
    await page.getByRole('link', { name: 'Doctor' }).first().click();
    await page.waitForURL(`${base}/admin/doctor?client=${clientId}`);
    await page.getByRole('heading', { level: 1, name: 'Doctor: Console Check' }).waitFor();
    const finding = page.locator('[data-rule="registered_never_authorized"]');
    await finding.waitFor();
    expect(await finding.textContent()).toMatch(/never came to \/authorize/);
    expect(await page.locator('tr[data-step="registration"]').count()).toBe(1);
    // The same report from a shell: the command to paste (ids no longer start with '-', so no `--`).
    expect(await page.locator('p.muted code').last().textContent()).toBe(`gatehouse doctor ${clientId}`);
    // A deep link to a metadata document client (its id is a URL) loads too.
    await call(authorizeUrl(base, { response_type: 'code', client_id: 'https://127.0.0.1:1/client.json', code_challenge: pkce().challenge, code_challenge_method: 'S256' }));
    await page.goto(`${base}/admin/doctor?client=${encodeURIComponent('https://127.0.0.1:1/client.json')}`);
    await page.locator('[data-rule="metadata_document_unusable"]').waitFor();
    expect(await page.locator('p.muted code').last().textContent()).toBe('gatehouse doctor https://127.0.0.1:1/client.json');
    // A subject with a character a shell reads (an apostrophe is valid in an email) is quoted for it.
    const quoted = await api('POST', '/users', { email: "o'neil@example.test", role: 'member' });
    expect(quoted.status).toBe(201);
    await page.goto(`${base}/admin/doctor?user=${quoted.json.user.id}`);
    await page.getByRole('heading', { level: 1, name: "Doctor: o'neil@example.test" }).waitFor();
    expect(await page.locator('p.muted code').last().textContent()).toBe(`gatehouse doctor 'o'\\''neil@example.test'`);

    const session = await api('GET', '/session');
    await page.goto(`${base}/admin/users/${session.json.user.id}`);
    await page.getByRole('link', { name: 'Connection doctor' }).click();
    await page.getByRole('heading', { level: 1, name: `Doctor: ${ADMIN.email}` }).waitFor();
    await page.locator('tr[data-step="sign_in"]').first().waitFor();

    // The probe state through the API, then on the list and detail pages.
    const listed = (await auditor('GET', '/upstreams')).json.items;
    expect(listed.find((u: any) => u.slug === 'notes').status.probe).toEqual({
      reachable: true,
      lastProbeAt: expect.any(Number),
      latencyMs: expect.any(Number),
      httpStatus: expect.any(Number),
      error: null,
    });
    expect(listed.find((u: any) => u.slug === 'down').status.probe).toMatchObject({ reachable: false, httpStatus: null, error: expect.stringMatching(/ECONNREFUSED/) });
    await page.goto(`${base}/admin/upstreams`);
    const row = (name: string) => page.locator('tr', { has: page.getByRole('link', { name, exact: true }) });
    await row('Notes').locator('[data-probe]').waitFor();
    expect(await row('Notes').locator('[data-probe]').textContent()).toMatch(/^reachable \(HTTP \d+ in \d+ ms\), probed /);
    expect(await row('Down').locator('td').nth(1).locator('.badge').textContent()).toBe('Unreachable');
    expect(await row('Down').locator('[data-probe]').textContent()).toMatch(/^unreachable: .*ECONNREFUSED/);
    await page.goto(`${base}/admin/upstreams/notes`);
    expect(await page.locator('dd[data-probe]').textContent()).toMatch(/reachable/);
    expect(errors).toEqual([]);
    await context.close();
  });

  describe('with a 1-second access token', () => {
    let short: TestGateway;
    beforeAll(async () => {
      short = await startTestGateway({ config: { oauth: { access_token_ttl: 1 }, upstreams: [{ slug: 'notes', url: upstream.url }] } });
    });
    afterAll(async () => {
      await short?.close();
      short?.cleanup();
    });

    it('an expired access token sent again instead of refreshing: "expired_token_not_refreshed"', async () => {
      const { client, provider } = await connectWithOAuth(short.mcpUrl('notes'), ADMIN, { clientName: 'Never Refreshes' });
      await client.close();
      const expired = provider.tokens()!.access_token;
      // Bounded wait for the token to expire (1 s TTL).
      for (let i = 0; i < 50 && (await mcpPost(short.mcpUrl('notes'), expired)).status !== 401; i++) await new Promise((r) => setTimeout(r, 100));
      const clientId = provider.clientInformation()!.client_id;
      const shortApi = adminApi(short.config.publicUrl, await signInToConsole(short.config.publicUrl, ADMIN));
      const res = await shortApi('GET', `/doctor/clients/${clientId}`);
      expect(rulesOf(res.json)).toContain('expired_token_not_refreshed');
      expect(res.json.steps[res.json.steps.length - 1]).toMatchObject({ step: 'mcp', outcome: 'failure', detail: '401 at /mcp/notes: the access token had expired' });
    });
  });
});
