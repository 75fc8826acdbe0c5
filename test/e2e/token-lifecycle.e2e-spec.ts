import { startUpstream, RunningUpstream } from '../fixtures/upstream-mcp-server';
import { TestBrowser } from '../helpers/browser';
import { ADMIN, startTestGateway, TestGateway } from '../helpers/gateway';
import { connectWithOAuth } from '../helpers/oauth-client';
import { mcpPost, obtainCode, pkce, registerPublicClient, tokenRequest } from '../helpers/raw-oauth';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('token lifecycle', () => {
  let upstream: RunningUpstream;

  beforeAll(async () => {
    upstream = await startUpstream();
  });
  afterAll(async () => upstream?.close());

  describe('with a 2-second access token', () => {
    let gateway: TestGateway;
    beforeAll(async () => {
      gateway = await startTestGateway({
        config: { oauth: { access_token_ttl: 2, refresh_grace_period: 0 }, upstreams: [{ slug: 'u', url: upstream.url }] },
      });
    });
    afterAll(async () => {
      await gateway.close();
      gateway.cleanup();
    });

    it('the SDK client refreshes when the access token expires and goes on working', async () => {
      const { client, provider } = await connectWithOAuth(gateway.mcpUrl('u'), ADMIN);
      const firstTokens = provider.tokens()!;
      await client.callTool({ name: 'echo', arguments: { text: 'before' } });
      await sleep(2500);
      const after = await client.callTool({ name: 'echo', arguments: { text: 'after expiry' } });
      expect(after.content).toEqual([{ type: 'text', text: 'after expiry' }]);
      const refreshed = provider.tokens()!;
      expect(refreshed.access_token).not.toBe(firstTokens.access_token);
      expect(refreshed.refresh_token).not.toBe(firstTokens.refresh_token);

      // Replaying the rotated refresh token is theft: invalid_grant, and the whole grant dies.
      const clientId = provider.clientInformation()!.client_id;
      const replay = await tokenRequest(gateway.config.publicUrl, {
        grant_type: 'refresh_token',
        refresh_token: firstTokens.refresh_token,
        client_id: clientId,
      });
      expect(replay.status).toBe(400);
      expect(replay.json.error).toBe('invalid_grant');
      const current = await tokenRequest(gateway.config.publicUrl, {
        grant_type: 'refresh_token',
        refresh_token: refreshed.refresh_token,
        client_id: clientId,
      });
      expect(current.json.error).toBe('invalid_grant');
      const denied = await mcpPost(gateway.mcpUrl('u'), refreshed.access_token);
      expect(denied.status).toBe(401);
      expect(denied.headers.get('www-authenticate')).toContain('error="invalid_token"');
      await client.close();
    });

    it('an expired access token gets 401 invalid_token with the resource metadata', async () => {
      const { provider, client } = await connectWithOAuth(gateway.mcpUrl('u'), ADMIN);
      await client.close();
      await sleep(2200);
      const res = await mcpPost(gateway.mcpUrl('u'), provider.tokens()!.access_token);
      expect(res.status).toBe(401);
      const challenge = res.headers.get('www-authenticate')!;
      expect(challenge).toContain('error="invalid_token"');
      expect(challenge).toContain(`resource_metadata="${gateway.config.publicUrl}/.well-known/oauth-protected-resource/mcp/u"`);
    });
  });

  describe('refresh races', () => {
    let gateway: TestGateway;
    beforeAll(async () => {
      gateway = await startTestGateway({ config: { oauth: { refresh_grace_period: 1 }, upstreams: [{ slug: 'u', url: upstream.url }] } });
    });
    afterAll(async () => {
      await gateway.close();
      gateway.cleanup();
    });

    async function freshGrant() {
      const base = gateway.config.publicUrl;
      const redirectUri = 'http://127.0.0.1:7777/cb';
      const client = await registerPublicClient(base, redirectUri);
      const { verifier, challenge } = pkce();
      const code = await obtainCode(base, new TestBrowser(), ADMIN, { clientId: client.client_id, redirectUri, challenge });
      const tokens = await tokenRequest(base, { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: redirectUri, client_id: client.client_id });
      expect(tokens.status).toBe(200);
      return { base, clientId: client.client_id, tokens: tokens.json };
    }

    it('two concurrent refreshes with the same token get the same new pair', async () => {
      const { base, clientId, tokens } = await freshGrant();
      const params = { grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: clientId };
      const [a, b] = await Promise.all([tokenRequest(base, params), tokenRequest(base, params)]);
      expect(a.status).toBe(200);
      expect(b.status).toBe(200);
      expect(b.json.refresh_token).toBe(a.json.refresh_token);
      expect(b.json.access_token).toBe(a.json.access_token);
      expect(a.json.refresh_token).not.toBe(tokens.refresh_token);
    });

    it('reuse after the grace window revokes the grant', async () => {
      const { base, clientId, tokens } = await freshGrant();
      const params = { grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: clientId };
      const first = await tokenRequest(base, params);
      expect(first.status).toBe(200);
      await sleep(1200);
      const late = await tokenRequest(base, params);
      expect(late.json.error).toBe('invalid_grant');
      const next = await tokenRequest(base, { ...params, refresh_token: first.json.refresh_token });
      expect(next.json.error).toBe('invalid_grant');
      expect((await mcpPost(gateway.mcpUrl('u'), first.json.access_token)).status).toBe(401);
    });

    it('revocation (RFC 7009) takes effect at the proxy at once, cached token or not', async () => {
      const { base, clientId, tokens } = await freshGrant();
      expect((await mcpPost(gateway.mcpUrl('u'), tokens.access_token)).status).toBe(200);
      const revoke = await fetch(`${base}/revoke`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token: tokens.access_token, client_id: clientId }),
      });
      expect(revoke.status).toBe(200);
      expect((await mcpPost(gateway.mcpUrl('u'), tokens.access_token)).status).toBe(401);
      // Revoking the refresh token ends the grant.
      await fetch(`${base}/revoke`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token: tokens.refresh_token, client_id: clientId, token_type_hint: 'refresh_token' }),
      });
      const refresh = await tokenRequest(base, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: clientId });
      expect(refresh.json.error).toBe('invalid_grant');
    });
  });

  it('survives a restart: the registration and the refresh token from before still work', async () => {
    const first = await startTestGateway({ config: { upstreams: [{ slug: 'u', url: upstream.url }] } });
    const { client, provider } = await connectWithOAuth(first.mcpUrl('u'), ADMIN);
    await client.close();
    const { dataDir, port } = first;
    await first.close();

    const second = await startTestGateway({ dataDir, port, config: { upstreams: [{ slug: 'u', url: upstream.url }] } });
    try {
      const clientId = provider.clientInformation()!.client_id;
      const refreshed = await tokenRequest(second.config.publicUrl, {
        grant_type: 'refresh_token',
        refresh_token: provider.tokens()!.refresh_token,
        client_id: clientId,
      });
      expect(refreshed.status).toBe(200);
      expect((await mcpPost(second.mcpUrl('u'), refreshed.json.access_token)).status).toBe(200);
    } finally {
      await second.close();
      second.cleanup();
    }
  });
});
