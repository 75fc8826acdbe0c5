import { DataSource } from 'typeorm';
import type { AuditEventType } from '../../server/src/audit/audit-event-type';
import { AuditService } from '../../server/src/audit/audit.service';
import { startUpstream, RunningUpstream } from '../fixtures/upstream-mcp-server';
import { TestBrowser } from '../helpers/browser';
import { ADMIN, startTestGateway, TestGateway } from '../helpers/gateway';
import { connectWithOAuth } from '../helpers/oauth-client';
import { register, tokenRequest } from '../helpers/raw-oauth';
import { storedText } from '../helpers/test-database';

const API_KEY = 'audit-test-upstream-key-9f8e7d';

describe('audit log and secrets at rest', () => {
  let upstream: RunningUpstream;
  let gw: TestGateway;
  beforeAll(async () => {
    upstream = await startUpstream();
    gw = await startTestGateway({ config: { upstreams: [{ slug: 'u', url: upstream.url, auth: { mode: 'headers', headers: { 'X-Api-Key': API_KEY } } }] } });
  });
  afterAll(async () => {
    await gw.close();
    await upstream.close();
    gw.cleanup();
  });

  it('migrations produce exactly the schema the entities describe', async () => {
    const pending = await gw.app.get(DataSource).driver.createSchemaBuilder().log();
    expect(pending.upQueries.map((q) => q.query)).toEqual([]);
  });

  it('deletes audit rows older than audit.retention_days', async () => {
    const audit = gw.app.get(AuditService);
    // A type no event has (past the typed API), so that only this row can match the filter below.
    audit.record({ type: 'retention.probe' as AuditEventType, outcome: 'success' });
    await audit.flush();
    expect(await audit.applyRetention(Date.now() + 89 * 86_400_000)).toBe(0);
    expect(await audit.applyRetention(Date.now() + 91 * 86_400_000)).toBeGreaterThan(0);
    expect(await audit.list({ type: 'retention.probe' })).toEqual([]);
  });

  it('records logins, consent, registration, token events and proxied MCP calls, with no secret in any row', async () => {
    const base = gw.config.publicUrl;
    const failed = new TestBrowser();
    await failed.submit(await failed.get(`${base}/login`), { email: ADMIN.email, password: 'not-the-password' });

    const { client, provider } = await connectWithOAuth(gw.mcpUrl('u'), ADMIN);
    await client.callTool({ name: 'echo', arguments: { text: 'audited' } });
    const clientId = provider.clientInformation()!.client_id;
    const tokens = provider.tokens()!;
    const refreshed = await tokenRequest(base, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: clientId });
    await fetch(`${base}/revoke`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: refreshed.json.refresh_token, client_id: clientId }),
    });
    const confidential = await register(base, { redirect_uris: ['https://app.example/cb'], token_endpoint_auth_method: 'client_secret_post' });
    await client.close();

    const rows = await gw.app.get(AuditService).list({ limit: 500 });
    const types = new Set(rows.map((r) => `${r.type}:${r.outcome}`));
    for (const t of [
      'login:failure',
      'login:success',
      'consent:success',
      'client.register:success',
      'token.issue:success',
      'token.refresh:success',
      'grant.revoke:success',
      'mcp.request:success',
    ]) {
      expect(types).toContain(t);
    }
    const call = rows.find((r) => r.type === 'mcp.request' && r.mcpMethod === 'tools/call')!;
    expect(call).toMatchObject({ upstreamSlug: 'u', clientId, status: 200 });
    expect(call.userId).toBeTruthy();
    expect(call.durationMs).toEqual(expect.any(Number));

    const secrets = [
      tokens.access_token,
      tokens.refresh_token,
      refreshed.json.access_token,
      refreshed.json.refresh_token,
      confidential.json.client_secret,
      ADMIN.password,
      'not-the-password',
    ];
    const dump = JSON.stringify(rows);
    for (const s of secrets) expect(dump).not.toContain(s);

    // Nor anywhere in the database (the SQLite file, or every PostgreSQL row): tokens, codes and client secrets are stored as hashes.
    await gw.close();
    const raw = await storedText(gw.dataDir);
    expect(raw.length).toBeGreaterThan(0);
    for (const s of secrets) expect(raw).not.toContain(s);
    gw = await startTestGateway({ dataDir: gw.dataDir, port: gw.port, config: { upstreams: [{ slug: 'u', url: upstream.url }] } });
    // The client's GET stream was still open at the stop: its row was written, not lost.
    const after = await gw.app.get(AuditService).list({ type: 'mcp.request', limit: 500 });
    expect(after.some((r) => r.mcpMethod === 'GET')).toBe(true);
  });
});
