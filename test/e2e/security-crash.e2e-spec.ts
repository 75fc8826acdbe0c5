import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { startUpstream, RunningUpstream } from '../fixtures/upstream-mcp-server';
import { TestBrowser } from '../helpers/browser';
import { GroupsService } from '../../server/src/identity/groups.service';
import { UsersService } from '../../server/src/identity/users.service';
import { UpstreamsService } from '../../server/src/upstreams/upstreams.service';
import { VaultService } from '../../server/src/vault/vault.service';
import { ADMIN, freePort, startTestGateway, TestGateway } from '../helpers/gateway';
import { authorizeUrl, mcpPost, obtainCode, pkce, register, registerPublicClient, tokenRequest } from '../helpers/raw-oauth';
import { spawnGateway, SpawnedGateway } from '../helpers/spawn-gateway';
import { testEngine } from '../helpers/test-database';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const REDIRECT_URI = 'http://127.0.0.1:7777/cb';

interface AuditRow {
  type: string;
  outcome: string;
  user_id: string | null;
  client_id: string | null;
  detail: string | null;
}

/** The audit rows in the database file, read through a connection of our own (what a restart would find). */
function auditRowsOnDisk(dataDir: string): AuditRow[] {
  const db = new Database(join(dataDir, 'gatehouse.db'), { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT type, outcome, user_id, client_id, detail FROM audit_events ORDER BY id').all() as AuditRow[];
  } finally {
    db.close();
  }
}

const form = (fields: Record<string, string>) => ({
  method: 'POST',
  headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams(fields),
});

/**
 * What survives `kill -9`: the gateway runs as its own process (its real entry point),
 * is killed with SIGKILL (no shutdown hook runs), and is started again on the same DATA_DIR.
 */
describe('security state across kill -9', () => {
  let upstream: RunningUpstream;
  let dir: string;
  let running: SpawnedGateway | null = null;

  beforeAll(async () => {
    upstream = await startUpstream();
  });
  afterAll(async () => upstream?.close());
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-crash-'));
  });
  afterEach(async () => {
    if (running) await running.stop();
    running = null;
    rmSync(dir, { recursive: true, force: true });
  });

  /** Starts the gateway on dir/data with this grace window; the port stays the same across restarts. */
  async function start(port: number, graceSeconds: number): Promise<string> {
    const base = `http://127.0.0.1:${port}`;
    const config = {
      server: { host: '127.0.0.1', port, public_url: base, data_dir: join(dir, 'data') },
      rate_limit: { oauth_per_minute: 10_000, login_per_minute: 10_000, mcp_per_minute: 0 },
      oauth: { refresh_grace_period: graceSeconds },
      upstreams: [{ slug: 'u', url: upstream.url }],
    };
    const file = join(dir, 'config.yaml');
    writeFileSync(file, JSON.stringify(config)); // JSON is valid YAML
    running = spawnGateway({ GATEHOUSE_CONFIG: file, GATEHOUSE_ADMIN_EMAIL: ADMIN.email, GATEHOUSE_ADMIN_PASSWORD: ADMIN.password }, dir);
    await running.waitFor('Gatehouse listening');
    return base;
  }

  async function killHard(): Promise<void> {
    const gw = running!;
    running = null;
    gw.proc.kill('SIGKILL');
    await gw.exited;
  }

  async function grantTokens(base: string): Promise<{ clientId: string; refreshToken: string; accessToken: string }> {
    const client = await registerPublicClient(base, REDIRECT_URI);
    const { verifier, challenge } = pkce();
    const code = await obtainCode(base, new TestBrowser(), ADMIN, { clientId: client.client_id, redirectUri: REDIRECT_URI, challenge });
    const res = await tokenRequest(base, { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT_URI, client_id: client.client_id });
    expect(res.status).toBe(200);
    return { clientId: client.client_id, refreshToken: res.json.refresh_token, accessToken: res.json.access_token };
  }

  const refresh = (base: string, clientId: string, refreshToken: string) => tokenRequest(base, { grant_type: 'refresh_token', refresh_token: refreshToken, client_id: clientId });

  describe('a refresh whose response was lost in the crash', () => {
    it('retried within the grace window after the restart gets the same pair, which works', async () => {
      const port = await freePort();
      let base = await start(port, 300);
      const { clientId, refreshToken } = await grantTokens(base);
      const rotated = await refresh(base, clientId, refreshToken);
      expect(rotated.status).toBe(200);
      await killHard();

      base = await start(port, 300);
      const retry = await refresh(base, clientId, refreshToken);
      expect(retry.status).toBe(200);
      expect(retry.json.refresh_token).toBe(rotated.json.refresh_token);
      expect(retry.json.access_token).toBe(rotated.json.access_token);
      expect(retry.json).toMatchObject({ token_type: 'Bearer', scope: rotated.json.scope });
      expect(retry.json.expires_in).toBeGreaterThan(0);
      expect((await mcpPost(`${base}/mcp/u`, retry.json.access_token)).status).toBe(200);
      // The grant lives on: the pair's refresh token rotates normally.
      const next = await refresh(base, clientId, retry.json.refresh_token);
      expect(next.status).toBe(200);
      expect(next.json.refresh_token).not.toBe(retry.json.refresh_token);
    });

    it('reused after the grace window, still revokes the whole grant', async () => {
      const port = await freePort();
      let base = await start(port, 1);
      const { clientId, refreshToken } = await grantTokens(base);
      const rotated = await refresh(base, clientId, refreshToken);
      expect(rotated.status).toBe(200);
      const rotatedAt = Date.now();
      await killHard();

      base = await start(port, 1);
      await sleep(Math.max(0, rotatedAt + 1200 - Date.now()));
      const late = await refresh(base, clientId, refreshToken);
      expect(late.status).toBe(400);
      expect(late.json.error).toBe('invalid_grant');
      expect((await refresh(base, clientId, rotated.json.refresh_token)).json.error).toBe('invalid_grant');
      expect((await mcpPost(`${base}/mcp/u`, rotated.json.access_token)).status).toBe(401);
    });
  });

  describe('audit rows of security events', () => {
    it('a token issue and a refresh answered just before kill -9 keep their audit rows', async () => {
      const port = await freePort();
      let base = await start(port, 30);
      const { clientId } = await grantTokens(base);
      await killHard();
      expect(auditRowsOnDisk(join(dir, 'data')).filter((r) => r.type === 'token.issue' && r.client_id === clientId)).toHaveLength(1);

      base = await start(port, 30);
      const second = await grantTokens(base);
      expect((await refresh(base, second.clientId, second.refreshToken)).status).toBe(200);
      await killHard();
      const rows = auditRowsOnDisk(join(dir, 'data')).filter((r) => r.client_id === second.clientId);
      expect(rows.map((r) => `${r.type}:${r.outcome}`)).toEqual([
        'client.register:success',
        'authorize.start:success', // sent to sign in
        'authorize.start:success', // back, signed in
        'consent:success',
        'code.issue:success',
        'token.issue:success',
        'token.refresh:success',
      ]);
    });
  });
});

// Reads the SQLite file behind the gateway's back; on PostgreSQL the same rows are written before the
// answer through the same code (Transactions.run), and the replica tests read them from another process.
(testEngine() === 'sqlite' ? describe : describe.skip)('audit rows of security events are on disk when the response is', () => {
  let upstream: RunningUpstream;
  let gw: TestGateway;
  beforeAll(async () => {
    upstream = await startUpstream();
    gw = await startTestGateway({ config: { upstreams: [{ slug: 'u', url: upstream.url }] } });
  });
  afterAll(async () => {
    await gw.close();
    await upstream.close();
    gw.cleanup();
  });

  /** The rows written since the last call, read from the file right after a response: no flush, no wait. */
  let seen = 0;
  function newRows(): AuditRow[] {
    const rows = auditRowsOnDisk(gw.dataDir);
    const fresh = rows.slice(seen);
    seen = rows.length;
    return fresh;
  }

  it('registration, login, consent, token issue, refresh and revocation', async () => {
    const base = gw.config.publicUrl;
    newRows();

    const reg = await register(base, { client_name: 'durable', redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: 'none' });
    expect(reg.status).toBe(201);
    const clientId = reg.json.client_id;
    expect(newRows()).toEqual([expect.objectContaining({ type: 'client.register', outcome: 'success', client_id: clientId })]);

    const browser = new TestBrowser();
    const refused = await browser.submit(await browser.get(`${base}/login`), { email: ADMIN.email, password: 'wrong password' });
    expect(refused.status).toBe(401);
    expect(newRows()).toEqual([expect.objectContaining({ type: 'login', outcome: 'failure' })]);
    const signedIn = await browser.submit(await browser.get(`${base}/login`), { email: ADMIN.email, password: ADMIN.password });
    expect(signedIn.status).toBe(303);
    expect(newRows()).toEqual([expect.objectContaining({ type: 'login', outcome: 'success' })]);

    const { verifier, challenge } = pkce();
    const consentPage = await browser.get(
      authorizeUrl(base, {
        response_type: 'code',
        client_id: clientId,
        redirect_uri: REDIRECT_URI,
        code_challenge: challenge,
        code_challenge_method: 'S256',
        state: 's',
        resource: gw.mcpUrl('u'),
      }),
    );
    expect(consentPage.status).toBe(200);
    const formIndex = browser.forms(consentPage).findIndex((f) => f.buttons.some((b) => b.name === 'decision'));
    const approved = await browser.submit(consentPage, {}, { formIndex, button: 'decision=approve' });
    expect(approved.status).toBe(303);
    // The consent page's GET (authorize.start), the approval, and the code it sent (the connection doctor's steps).
    expect(newRows()).toEqual([
      expect.objectContaining({ type: 'authorize.start', outcome: 'success', client_id: clientId }),
      expect.objectContaining({ type: 'consent', outcome: 'success', client_id: clientId }),
      expect.objectContaining({ type: 'code.issue', outcome: 'success', client_id: clientId }),
    ]);
    const code = new URL(approved.location!).searchParams.get('code')!;

    const issued = await tokenRequest(base, { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT_URI, client_id: clientId });
    expect(issued.status).toBe(200);
    expect(newRows()).toEqual([expect.objectContaining({ type: 'token.issue', outcome: 'success', client_id: clientId })]);

    const refreshed = await tokenRequest(base, { grant_type: 'refresh_token', refresh_token: issued.json.refresh_token, client_id: clientId });
    expect(refreshed.status).toBe(200);
    expect(newRows()).toEqual([expect.objectContaining({ type: 'token.refresh', outcome: 'success', client_id: clientId })]);

    expect((await fetch(`${base}/revoke`, form({ token: refreshed.json.access_token, client_id: clientId }))).status).toBe(200);
    expect(newRows()).toEqual([expect.objectContaining({ type: 'token.revoke', outcome: 'success', client_id: clientId })]);
    expect((await fetch(`${base}/revoke`, form({ token: refreshed.json.refresh_token, client_id: clientId }))).status).toBe(200);
    expect(newRows()).toEqual([expect.objectContaining({ type: 'grant.revoke', outcome: 'success', client_id: clientId })]);

    // A rotated token presented after its grant ended: refused, with nothing to record.
    const reuse = await tokenRequest(base, { grant_type: 'refresh_token', refresh_token: issued.json.refresh_token, client_id: clientId });
    expect(reuse.json.error).toBe('invalid_grant');
  });

  it('an authorization code replay and the revocation it causes', async () => {
    const base = gw.config.publicUrl;
    const client = await registerPublicClient(base, REDIRECT_URI);
    const { verifier, challenge } = pkce();
    const code = await obtainCode(base, new TestBrowser(), ADMIN, { clientId: client.client_id, redirectUri: REDIRECT_URI, challenge });
    const params = { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT_URI, client_id: client.client_id };
    expect((await tokenRequest(base, params)).status).toBe(200);
    newRows();
    expect((await tokenRequest(base, params)).json.error).toBe('invalid_grant');
    expect(newRows().map((r) => `${r.type}:${r.outcome}`)).toEqual(['code.replay:failure', 'grant.revoke:success', 'token.refused:failure']);
  });

  it('admin actions: users, groups, allow-lists, upstreams and vault writes', async () => {
    const users = gw.app.get(UsersService);
    const upstreams = gw.app.get(UpstreamsService);
    newRows();
    const carol = await users.create({ email: 'carol@example.test', password: 'carol password 1234' });
    expect(newRows()).toEqual([expect.objectContaining({ type: 'user.create', user_id: carol.id })]);
    await gw.app.get(GroupsService).addMember('ops', carol.id);
    expect(newRows().map((r) => r.type)).toEqual(['group.create', 'group.member.add']);
    await gw.app.get(GroupsService).removeMember('ops', carol.id);
    expect(newRows().map((r) => r.type)).toEqual(['group.member.remove']);
    await users.setDisabled(carol.id, true);
    expect(newRows()).toEqual([expect.objectContaining({ type: 'user.disable', user_id: carol.id })]);
    await upstreams.setAllowList('u', { users: [], emails: [ADMIN.email], emailDomains: [], groups: [] });
    expect(newRows()).toEqual([expect.objectContaining({ type: 'upstream.allow_list' })]);
    await upstreams.setEnabled('u', false);
    await upstreams.setEnabled('u', true);
    expect(newRows().map((r) => r.type)).toEqual(['upstream.disable', 'upstream.enable']);
    await gw.app.get(VaultService).put({ type: 'upstream', id: 'u' }, 'header:X-Probe', 'probe-secret-value-1234', { userId: carol.id });
    const [write] = newRows();
    expect(write).toMatchObject({ type: 'vault.write', user_id: carol.id });
    expect(write.detail).not.toContain('probe-secret-value-1234');
  });
});
