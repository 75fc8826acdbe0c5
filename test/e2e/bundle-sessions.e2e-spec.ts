import { randomBytes } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { RunningUpstream, startUpstream } from '../fixtures/upstream-mcp-server';
import { ADMIN, startTestGateway, TestGateway } from '../helpers/gateway';
import { accessTokenFor, mcpPost } from '../helpers/raw-oauth';
import { NO_RATE_LIMITS, prepareReplicas, ReplicaSet } from '../helpers/replicas';
import { postgresAvailable } from '../helpers/test-database';

/** A bundle token for the admin, through the real /authorize and /token of the gateway at `base`. */
const bundleToken = (base: string): Promise<string> => accessTokenFor(base, ADMIN, { resource: `${base}/mcp` });

function sdkClient(url: string, token: string): { client: Client; transport: StreamableHTTPClientTransport } {
  const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${token}` } } });
  return { client: new Client({ name: 'bundle-sessions-e2e', version: '0' }), transport };
}

/**
 * A session-based client's Mcp-Session-Id on the bundle is not tied to the process that opened the
 * session: after a restart (any engine), and on another replica (PostgreSQL), the same session goes
 * on without a new initialize. It stays its grant's own.
 */
describe('bundle sessions after a restart', () => {
  let upstream: RunningUpstream;
  let gw: TestGateway;
  const config = () => ({ upstreams: [{ slug: 'notes', name: 'Notes', url: upstream.url }] });

  beforeAll(async () => {
    upstream = await startUpstream({ stateless: true });
    gw = await startTestGateway({ config: config() });
  }, 60_000);

  afterAll(async () => {
    await gw?.close();
    gw?.cleanup();
    await upstream?.close();
  });

  it('a session opened before the restart goes on after it, with the same id', async () => {
    const base = gw.config.publicUrl;
    const token = await bundleToken(base);
    const { client, transport } = sdkClient(`${base}/mcp`, token);
    try {
      await client.connect(transport);
      const sessionId = transport.sessionId;
      expect(sessionId).toMatch(/^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{22}$/);
      expect((await client.listTools()).tools.map((t) => t.name)).toContain('notes__echo');

      await gw.close();
      gw = await startTestGateway({ dataDir: gw.dataDir, port: gw.config.server.port, config: config() });

      const result = await client.callTool({ name: 'notes__echo', arguments: { text: 'after restart' } });
      expect(JSON.stringify(result.content)).toContain('after restart');
      expect(transport.sessionId).toBe(sessionId);
    } finally {
      await client.close().catch(() => undefined);
    }
  }, 60_000);

  it("refuses a session id with another grant's token, and ids it did not mint, with 404", async () => {
    const base = gw.config.publicUrl;
    const [mine, other] = [await bundleToken(base), await bundleToken(base)];
    const opened = await mcpPost(`${base}/mcp`, mine);
    expect(opened.status).toBe(200);
    const sessionId = opened.headers.get('mcp-session-id')!;
    const list = { jsonrpc: '2.0', id: 2, method: 'tools/list', params: {} };
    const headers = (id: string) => ({ 'mcp-session-id': id, 'mcp-protocol-version': '2025-06-18' });

    expect((await mcpPost(`${base}/mcp`, mine, list, headers(sessionId))).status).toBe(200);
    const stolen = await mcpPost(`${base}/mcp`, other, list, headers(sessionId));
    expect(stolen.status).toBe(404);
    expect(stolen.json).toMatchObject({ jsonrpc: '2.0', error: { code: -32001 } });
    const [nonce] = sessionId.split('.');
    const forged = `${nonce}.${randomBytes(16).toString('base64url')}`;
    for (const id of [forged, 'not-a-session', `${sessionId}x`]) expect((await mcpPost(`${base}/mcp`, mine, list, headers(id))).status).toBe(404);
  }, 60_000);
});

(postgresAvailable() ? describe : describe.skip)('bundle sessions across two replicas on one PostgreSQL', () => {
  let upstream: RunningUpstream;
  let replicas: ReplicaSet;

  beforeAll(async () => {
    upstream = await startUpstream({ stateless: true });
    replicas = await prepareReplicas({ prefix: 'gatehouse-bundle-sessions-', balancer: true });
    await replicas.start(() => ({ rate_limit: NO_RATE_LIMITS, upstreams: [{ slug: 'notes', name: 'Notes', url: upstream.url }] }));
  }, 150_000);

  afterAll(async () => {
    await replicas?.stop();
    await upstream?.close();
  });

  it('a round-robin balancer sends one session to both replicas and every request is served', async () => {
    const lb = replicas.balancer!;
    lb.to('a');
    const token = await bundleToken(lb.url);
    // The balancer: each request of the client goes to the other replica than the one before.
    lb.roundRobin();
    const before = { ...lb.served };
    const served = () => ({ a: lb.served.a - before.a, b: lb.served.b - before.b });
    const { client, transport } = sdkClient(`${lb.url}/mcp`, token);
    try {
      await client.connect(transport); // initialize on A, notifications/initialized on B (and the GET stream)
      for (let i = 0; i < 4; i++) {
        const result = await client.callTool({ name: 'notes__echo', arguments: { text: `call ${i}` } });
        expect(JSON.stringify(result.content)).toContain(`call ${i}`);
      }
      expect((await client.listTools()).tools.map((t) => t.name)).toContain('notes__echo');
      expect(served().a).toBeGreaterThanOrEqual(3);
      expect(served().b).toBeGreaterThanOrEqual(3);
    } finally {
      await client.close().catch(() => undefined);
    }
  }, 60_000);
});
