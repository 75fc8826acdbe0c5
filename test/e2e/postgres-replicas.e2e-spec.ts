import { randomBytes } from 'node:crypto';
import { RunningUpstream, startUpstream } from '../fixtures/upstream-mcp-server';
import { adminApi, signInToConsole } from '../helpers/admin-api';
import { TestBrowser } from '../helpers/browser';
import { ADMIN } from '../helpers/gateway';
import { mcpPost, obtainCode, pkce, registerPublicClient, tokenRequest, call } from '../helpers/raw-oauth';
import { NO_RATE_LIMITS, prepareReplicas, ReplicaSet } from '../helpers/replicas';

const REDIRECT_URI = 'http://127.0.0.1:9999/callback';

/**
 * Two gateway processes (the real entry point) on one PostgreSQL database, as behind a load
 * balancer: one public URL, one master key (GATEHOUSE_MASTER_KEY), a data directory each. Always
 * on PostgreSQL, whatever GATEHOUSE_TEST_DB says (test/helpers/test-database.ts finds a server).
 */
describe('several replicas on one PostgreSQL', () => {
  let upstream: RunningUpstream;
  let replicas: ReplicaSet;
  let baseA: string;
  let baseB: string;

  beforeAll(async () => {
    upstream = await startUpstream();
    // One issuer for both (the load balancer's URL in production: A's here); A first, so one creates the admin.
    replicas = await prepareReplicas({ prefix: 'gatehouse-replicas-' });
    await replicas.start(() => ({
      rate_limit: NO_RATE_LIMITS,
      oauth: { refresh_grace_period: 60 },
      upstreams: [
        { slug: 'u', url: upstream.url },
        { slug: 'g', url: upstream.url, allow: { groups: ['team'] } },
      ],
    }));
    [baseA, baseB] = [replicas.url('a'), replicas.url('b')];
  }, 150_000);

  afterAll(async () => {
    await replicas?.stop();
    await upstream?.close();
  });

  async function code(): Promise<{ clientId: string; code: string; verifier: string }> {
    const client = await registerPublicClient(baseA, REDIRECT_URI);
    const { verifier, challenge } = pkce();
    const found = await obtainCode(baseA, new TestBrowser(), ADMIN, { clientId: client.client_id, redirectUri: REDIRECT_URI, challenge, resource: `${baseA}/mcp/u` });
    return { clientId: client.client_id, code: found, verifier };
  }

  const exchange = (base: string, c: { clientId: string; code: string; verifier: string }) =>
    tokenRequest(base, { grant_type: 'authorization_code', code: c.code, code_verifier: c.verifier, redirect_uri: REDIRECT_URI, client_id: c.clientId });

  async function tokens(): Promise<{ clientId: string; accessToken: string; refreshToken: string }> {
    const c = await code();
    const res = await exchange(baseA, c);
    expect(res.status).toBe(200);
    return { clientId: c.clientId, accessToken: res.json.access_token, refreshToken: res.json.refresh_token };
  }

  /**
   * Polls until the request is refused: a bounded wait for the other replica's notification (far
   * below the 30 s safety TTL). A request cut while in flight (the revocation ends the grant's open
   * streams) is asked again.
   */
  async function refusedWithin(ms: number, request: () => Promise<{ status: number }>): Promise<number> {
    const deadline = Date.now() + ms;
    for (;;) {
      const status = await request().then(
        (r) => r.status,
        () => 0,
      );
      if (status === 401 || Date.now() > deadline) return status;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  it('each replica is ready (/readyz checks PostgreSQL takes writes)', async () => {
    for (const base of [baseA, baseB]) {
      const res = await call(`${base}/readyz`);
      expect(res.status).toBe(200);
      expect(res.json.checks.database).toEqual({ status: 'ok' });
    }
  });

  it('a code exchanged on both replicas at the same moment yields one token pair; the other gets invalid_grant', async () => {
    const c = await code();
    const results = await Promise.all([exchange(baseA, c), exchange(baseB, c)]);
    const statuses = results.map((r) => r.status).sort();
    expect(statuses).toEqual([200, 400]);
    expect(results.find((r) => r.status === 400)!.json.error).toBe('invalid_grant');
  });

  it('a token revoked on one replica is refused by the other at once', async () => {
    const t = await tokens();
    // B has verified (and cached) the token.
    expect((await mcpPost(`${baseB}/mcp/u`, t.accessToken)).status).toBe(200);
    const revoked = await call(`${baseA}/revoke`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: t.refreshToken, client_id: t.clientId }),
    });
    expect(revoked.status).toBe(200);
    expect(await refusedWithin(3_000, () => mcpPost(`${baseB}/mcp/u`, t.accessToken))).toBe(401);
  });

  /** A member with a password (invite link, on A), optionally in a new group, and an access token of theirs for the upstream. */
  async function member(slug: string, group?: string) {
    const admin = adminApi(baseA, await signInToConsole(baseA, ADMIN));
    const email = `member-${randomBytes(4).toString('hex')}@example.test`;
    const password = 'member password 1234';
    const created = await admin('POST', '/users', { email, role: 'member' });
    expect(created.status).toBe(201);
    const browser = new TestBrowser();
    expect((await browser.submit(await browser.get(created.json.inviteUrl), { password, confirm: password })).status).toBe(303);
    let groupId: string | null = null;
    if (group) {
      const made = await admin('POST', '/groups', { name: group });
      expect(made.status).toBe(201);
      groupId = made.json.group.id;
      expect((await admin('PUT', `/groups/${groupId}/members/${created.json.user.id}`)).status).toBeLessThan(300);
    }
    const client = await registerPublicClient(baseA, REDIRECT_URI);
    const { verifier, challenge } = pkce();
    const memberCode = await obtainCode(
      baseA,
      new TestBrowser(),
      { email, password },
      { clientId: client.client_id, redirectUri: REDIRECT_URI, challenge, resource: `${baseA}/mcp/${slug}` },
    );
    const issued = await tokenRequest(baseA, {
      grant_type: 'authorization_code',
      code: memberCode,
      code_verifier: verifier,
      redirect_uri: REDIRECT_URI,
      client_id: client.client_id,
    });
    expect(issued.status).toBe(200);
    return { admin, userId: created.json.user.id as string, groupId, accessToken: issued.json.access_token as string };
  }

  it('a member removed from a group on one replica is refused by the other (allow-list by group)', async () => {
    const m = await member('g', 'team');
    // B has read (and cached) the member's groups.
    expect((await mcpPost(`${baseB}/mcp/g`, m.accessToken)).status).toBe(200);
    expect((await m.admin('DELETE', `/groups/${m.groupId}/members/${m.userId}`)).status).toBeLessThan(300);
    const deadline = Date.now() + 3_000;
    let status = 0;
    while (Date.now() < deadline && (status = (await mcpPost(`${baseB}/mcp/g`, m.accessToken)).status) === 200) await new Promise((r) => setTimeout(r, 50));
    expect(status).toBe(403);
  });

  it('a user disabled on one replica is refused by the other', async () => {
    const m = await member('u');
    // B has verified (and cached) the member's token and profile.
    expect((await mcpPost(`${baseB}/mcp/u`, m.accessToken)).status).toBe(200);
    expect((await m.admin('POST', `/users/${m.userId}/disable`)).status).toBe(200);
    const status = await refusedWithin(3_000, () => mcpPost(`${baseB}/mcp/u`, m.accessToken));
    expect([401, 403]).toContain(status);
    expect((await mcpPost(`${baseB}/mcp/u`, m.accessToken)).status).not.toBe(200);
  });

  it('concurrent refreshes on the two replicas within the grace window both get the same new pair', async () => {
    const t = await tokens();
    const refresh = (base: string) => tokenRequest(base, { grant_type: 'refresh_token', refresh_token: t.refreshToken, client_id: t.clientId });
    const [ra, rb] = await Promise.all([refresh(baseA), refresh(baseB)]);
    expect([ra.status, rb.status]).toEqual([200, 200]);
    expect(ra.json.refresh_token).toBe(rb.json.refresh_token);
    expect(ra.json.access_token).toBe(rb.json.access_token);
    // And the pair works on either replica.
    expect((await mcpPost(`${baseB}/mcp/u`, ra.json.access_token)).status).toBe(200);
    expect((await mcpPost(`${baseA}/mcp/u`, rb.json.access_token)).status).toBe(200);
  });
});
