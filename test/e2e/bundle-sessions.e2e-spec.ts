import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { RunningUpstream, startUpstream } from '../fixtures/upstream-mcp-server';
import { TestBrowser } from '../helpers/browser';
import { ADMIN, freePort, startTestGateway, TestGateway } from '../helpers/gateway';
import { mcpPost, obtainCode, pkce, registerPublicClient, tokenRequest } from '../helpers/raw-oauth';
import { spawnGateway, SpawnedGateway } from '../helpers/spawn-gateway';
import { dropPostgresDatabase, postgresAvailable, postgresDatabase } from '../helpers/test-database';

const REDIRECT_URI = 'http://127.0.0.1:9999/callback';

/** A bundle token for the admin, through the real /authorize and /token of the gateway at `base`. */
async function bundleToken(base: string): Promise<string> {
  const client = await registerPublicClient(base, REDIRECT_URI);
  const { verifier, challenge } = pkce();
  const code = await obtainCode(base, new TestBrowser(), ADMIN, { clientId: client.client_id, redirectUri: REDIRECT_URI, challenge, resource: `${base}/mcp` });
  const issued = await tokenRequest(base, { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT_URI, client_id: client.client_id });
  if (issued.status !== 200) throw new Error(`token: ${issued.status} ${issued.text}`);
  return issued.json.access_token as string;
}

function sdkClient(url: string, token: string, fetchFn?: typeof fetch): { client: Client; transport: StreamableHTTPClientTransport } {
  const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${token}` } }, fetch: fetchFn });
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
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bundle-sessions-'));
  let upstream: RunningUpstream;
  let a: SpawnedGateway;
  let b: SpawnedGateway;
  let baseA: string;
  let baseB: string;

  async function startReplica(name: string, port: number, publicUrl: string, databaseUrl: string, masterKey: string): Promise<SpawnedGateway> {
    const config = {
      server: { host: '127.0.0.1', port, public_url: publicUrl, data_dir: join(dir, name) },
      database: { url: databaseUrl },
      rate_limit: { oauth_per_minute: 10_000, login_per_minute: 10_000, mcp_per_minute: 0 },
      upstreams: [{ slug: 'notes', name: 'Notes', url: upstream.url }],
    };
    const file = join(dir, `${name}.yaml`);
    writeFileSync(file, JSON.stringify(config)); // JSON is valid YAML
    const gw = spawnGateway({ GATEHOUSE_CONFIG: file, GATEHOUSE_ADMIN_EMAIL: ADMIN.email, GATEHOUSE_ADMIN_PASSWORD: ADMIN.password, GATEHOUSE_MASTER_KEY: masterKey }, dir);
    await gw.waitFor('Gatehouse listening', 60_000);
    return gw;
  }

  beforeAll(async () => {
    upstream = await startUpstream({ stateless: true });
    const databaseUrl = await postgresDatabase(dir);
    const masterKey = randomBytes(32).toString('base64');
    const [portA, portB] = [await freePort(), await freePort()];
    baseA = `http://127.0.0.1:${portA}`;
    baseB = `http://127.0.0.1:${portB}`;
    a = await startReplica('a', portA, baseA, databaseUrl, masterKey);
    b = await startReplica('b', portB, baseA, databaseUrl, masterKey);
  }, 150_000);

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await upstream?.close();
    dropPostgresDatabase(dir);
    rmSync(dir, { recursive: true, force: true });
  });

  it('a round-robin balancer sends one session to both replicas and every request is served', async () => {
    const token = await bundleToken(baseA);
    // The balancer: each request of the client goes to the other replica than the one before.
    const served = { a: 0, b: 0 };
    let turn = 0;
    const balancer: typeof fetch = (input, init) => {
      const toB = turn++ % 2 === 1;
      served[toB ? 'b' : 'a']++;
      const url = new URL(input instanceof Request ? input.url : String(input));
      if (toB) url.port = new URL(baseB).port;
      return fetch(url, init);
    };
    const { client, transport } = sdkClient(`${baseA}/mcp`, token, balancer);
    try {
      await client.connect(transport); // initialize on A, notifications/initialized on B (and the GET stream)
      for (let i = 0; i < 4; i++) {
        const result = await client.callTool({ name: 'notes__echo', arguments: { text: `call ${i}` } });
        expect(JSON.stringify(result.content)).toContain(`call ${i}`);
      }
      expect((await client.listTools()).tools.map((t) => t.name)).toContain('notes__echo');
      expect(served.a).toBeGreaterThanOrEqual(3);
      expect(served.b).toBeGreaterThanOrEqual(3);
    } finally {
      await client.close().catch(() => undefined);
    }
  }, 60_000);
});
