import { startUpstream, RunningUpstream } from '../fixtures/upstream-mcp-server';
import { ADMIN, startTestGateway, TestGateway } from '../helpers/gateway';
import { connectWithOAuth, TestOAuthProvider } from '../helpers/oauth-client';

const API_KEY = 'upstream-secret-key-123';

describe('spine: the SDK client through the gateway to a real upstream', () => {
  let upstream: RunningUpstream;
  let gateway: TestGateway;

  beforeAll(async () => {
    upstream = await startUpstream({ requiredHeaders: { 'x-api-key': API_KEY } });
    gateway = await startTestGateway({
      config: { upstreams: [{ slug: 'tools', name: 'Tool box', url: upstream.url, auth: { mode: 'headers', headers: { 'X-API-Key': API_KEY } } }] },
    });
  });

  afterAll(async () => {
    await gateway?.close();
    await upstream?.close();
    gateway?.cleanup();
  });

  it('discovers, registers, authorizes, then lists and calls tools with progress', async () => {
    const { client, provider, authorization } = await connectWithOAuth(gateway.mcpUrl('tools'), ADMIN);
    expect(authorization?.iss).toBe(gateway.config.publicUrl);

    const tools = await client.listTools();
    expect(tools.tools.map((t) => t.name)).toEqual(expect.arrayContaining(['echo', 'count']));

    const echoed = await client.callTool({ name: 'echo', arguments: { text: 'hello through the gateway' } });
    expect(echoed.content).toEqual([{ type: 'text', text: 'hello through the gateway' }]);

    const progress: number[] = [];
    const counted = await client.callTool({ name: 'count', arguments: { n: 4, delayMs: 5 } }, undefined, {
      onprogress: (p) => progress.push(p.progress),
    });
    expect(counted.content).toEqual([{ type: 'text', text: 'counted 4' }]);
    expect(progress).toEqual([1, 2, 3, 4]);

    // The upstream saw the injected key and never the gateway's token or cookies.
    const token = provider.tokens()!.access_token;
    const proxied = upstream.seen.filter((r) => r.headers['x-api-key'] === API_KEY);
    expect(proxied.length).toBeGreaterThan(3);
    for (const r of upstream.seen) {
      expect(r.headers.authorization).toBeUndefined();
      expect(r.headers.cookie).toBeUndefined();
      expect(JSON.stringify(r.headers)).not.toContain(token);
    }
    await client.close();
  });

  it('passes Mcp-Session-Id through and ends the session with DELETE', async () => {
    const { client, transport } = await connectWithOAuth(gateway.mcpUrl('tools'), ADMIN);
    const sessionId = transport.sessionId;
    expect(sessionId).toBeTruthy();
    expect(upstream.seen.some((r) => r.headers['mcp-session-id'] === sessionId)).toBe(true);
    await transport.terminateSession();
    expect(upstream.seen.some((r) => r.method === 'DELETE' && r.headers['mcp-session-id'] === sessionId)).toBe(true);
    await client.close();
  });

  it('remembers consent: a second client authorization by the same client skips the consent page', async () => {
    const provider = new TestOAuthProvider();
    const first = await connectWithOAuth(gateway.mcpUrl('tools'), ADMIN, { provider });
    expect(first.authorization?.consentShown).toBe(true);
    await first.client.close();
    // Forget the tokens but keep the registration and the browser session.
    provider.invalidateCredentials('tokens');
    const second = await connectWithOAuth(gateway.mcpUrl('tools'), ADMIN, { provider, browser: first.browser });
    expect(second.authorization?.consentShown).toBe(false);
    expect(second.authorization?.loggedIn).toBe(false);
    await second.client.close();
  });
});
