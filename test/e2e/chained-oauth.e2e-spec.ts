import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AuditService } from '../../server/src/audit/audit.service';
import { FIXTURE_USER, RunningOAuthUpstream, startOAuthUpstream } from '../fixtures/upstream-oauth-server';
import { ADMIN, startTestGateway, TestGateway } from '../helpers/gateway';
import { connectWithOAuth } from '../helpers/oauth-client';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('chained OAuth: the gateway as an OAuth client of an upstream with its own authorization server', () => {
  let upstream: RunningOAuthUpstream;
  let gw: TestGateway;

  beforeAll(async () => {
    // Upstream access tokens live 2 s: the gateway refreshes them ahead of expiry.
    upstream = await startOAuthUpstream({ accessTokenTtlSeconds: 2 });
    gw = await startTestGateway({ config: { upstreams: [{ slug: 'crm', name: 'CRM', url: upstream.url, auth: { mode: 'oauth' } }] } });
  });
  afterAll(async () => {
    await gw.close();
    await upstream.close();
    gw.cleanup();
  });

  it('runs gateway login → upstream sign-in → consent → code, refreshes upstream tokens silently, and re-authorizes after the upstream refresh is revoked', async () => {
    const { client, provider, browser } = await connectWithOAuth(gw.mcpUrl('crm'), ADMIN, { allowOrigins: [upstream.origin] });
    // The upstream saw the gateway register itself and the user authorize, with PKCE S256 and the resource.
    expect(upstream.registrations).toHaveLength(1);
    expect(upstream.authorizations[0]).toMatchObject({ codeChallengeMethod: 'S256', redirectUri: `${gw.config.publicUrl}/oauth/upstream/callback`, resource: upstream.url });
    const who = await client.callTool({ name: 'whoami', arguments: {} });
    expect(JSON.stringify(who.content)).toContain(FIXTURE_USER);

    // The upstream access token expires; the gateway refreshes it without the client noticing.
    const gatewayToken = provider.tokens()!.access_token;
    await sleep(2100);
    const refreshesBefore = upstream.refreshCount;
    const again = await client.callTool({ name: 'whoami', arguments: {} });
    expect(JSON.stringify(again.content)).toContain(FIXTURE_USER);
    expect(upstream.refreshCount).toBeGreaterThan(refreshesBefore);
    expect(provider.tokens()!.access_token).toBe(gatewayToken);

    // Never a gateway token upstream, never an upstream token downstream.
    // (undefined: a request without credentials, e.g. the gateway's reachability probe)
    for (const auth of upstream.seenAuthorizations) expect(auth ?? '').not.toContain(gatewayToken);
    expect(JSON.stringify(provider.savedTokens)).not.toMatch(
      new RegExp(
        upstream.seenAuthorizations
          .filter(Boolean)
          .map((a) => a!.replace('Bearer ', ''))
          .join('|'),
      ),
    );
    await client.close();

    // The upstream refresh is revoked: the client gets a 401 that leads it back through /authorize.
    await sleep(2100);
    upstream.revokeAllRefreshTokens();
    const transport = new StreamableHTTPClientTransport(new URL(gw.mcpUrl('crm')), { authProvider: provider });
    const urlsBefore = provider.authorizationUrls.length;
    await expect(new Client({ name: 'e2e', version: '0' }).connect(transport)).rejects.toBeInstanceOf(UnauthorizedError);
    expect(provider.authorizationUrls.length).toBe(urlsBefore + 1);

    const reauthorized = await connectWithOAuth(gw.mcpUrl('crm'), ADMIN, { provider, browser, allowOrigins: [upstream.origin] });
    expect(JSON.stringify((await reauthorized.client.callTool({ name: 'whoami', arguments: {} })).content)).toContain(FIXTURE_USER);
    await reauthorized.client.close();

    const rows = await gw.app.get(AuditService).list({ limit: 1000 });
    const types = rows.map((r) => `${r.type}:${r.outcome}`);
    expect(types).toEqual(expect.arrayContaining(['upstream.signin:success', 'upstream.token_refresh:success', 'upstream.token_refresh:failure']));

    // Upstream tokens are in the vault, encrypted.
    const raw = ['gatehouse.db', 'gatehouse.db-wal'].map((f) => {
      try {
        return readFileSync(join(gw.dataDir, f)).toString('latin1');
      } catch {
        return '';
      }
    });
    for (const auth of upstream.seenAuthorizations.filter(Boolean)) {
      for (const content of raw) expect(content).not.toContain(auth!.replace('Bearer ', ''));
    }
  });
});
