import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { RECORDING_UPSTREAM_KEY, RecordingUpstream, startRecordingUpstream } from '../fixtures/recording-mcp-upstream';
import { TestBrowser } from '../helpers/browser';
import { ADMIN, freePort } from '../helpers/gateway';
import { obtainCode, pkce, registerPublicClient, tokenRequest } from '../helpers/raw-oauth';
import { spawnGateway, SpawnedGateway } from '../helpers/spawn-gateway';
import { dropPostgresDatabase, postgresDatabase } from '../helpers/test-database';

const REDIRECT_URI = 'http://127.0.0.1:9999/callback';

const until = async (cond: () => boolean, what: string) => {
  for (let i = 0; i < 200; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
};

/**
 * A bundle session is any replica's, so a client's notifications/cancelled may reach another
 * replica than the tools/call it cancels: it still reaches the upstream. Two gateway processes on
 * one PostgreSQL database; always on PostgreSQL, whatever GATEHOUSE_TEST_DB says.
 */
describe('bundle cancellation across two replicas', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bundle-cancel-'));
  let upstream: RecordingUpstream;
  let a: SpawnedGateway;
  let b: SpawnedGateway;
  let baseA: string;
  let baseB: string;

  async function startReplica(name: string, port: number, databaseUrl: string, masterKey: string): Promise<SpawnedGateway> {
    const config = {
      server: { host: '127.0.0.1', port, public_url: baseA, data_dir: join(dir, name) },
      database: { url: databaseUrl },
      rate_limit: { oauth_per_minute: 10_000, login_per_minute: 10_000, mcp_per_minute: 0 },
      upstreams: [{ slug: 'rec', name: 'Recorder', url: upstream.url, auth: { mode: 'headers', headers: { 'X-API-Key': '${TEST_RELAY_KEY}' } } }],
    };
    const file = join(dir, `${name}.yaml`);
    writeFileSync(file, JSON.stringify(config)); // JSON is valid YAML
    const env = { GATEHOUSE_CONFIG: file, GATEHOUSE_ADMIN_EMAIL: ADMIN.email, GATEHOUSE_ADMIN_PASSWORD: ADMIN.password, GATEHOUSE_MASTER_KEY: masterKey };
    const gw = spawnGateway({ ...env, TEST_RELAY_KEY: RECORDING_UPSTREAM_KEY }, dir);
    await gw.waitFor('Gatehouse listening', 60_000);
    return gw;
  }

  beforeAll(async () => {
    upstream = await startRecordingUpstream();
    const databaseUrl = await postgresDatabase(dir);
    const masterKey = randomBytes(32).toString('base64');
    const [portA, portB] = [await freePort(), await freePort()];
    baseA = `http://127.0.0.1:${portA}`;
    baseB = `http://127.0.0.1:${portB}`;
    a = await startReplica('a', portA, databaseUrl, masterKey);
    b = await startReplica('b', portB, databaseUrl, masterKey);
  }, 150_000);

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await upstream?.close();
    dropPostgresDatabase(dir);
    rmSync(dir, { recursive: true, force: true });
  });

  it('a cancellation that lands on B ends the call open on A, and the upstream is told', async () => {
    const client = await registerPublicClient(baseA, REDIRECT_URI);
    const { verifier, challenge } = pkce();
    const code = await obtainCode(baseA, new TestBrowser(), ADMIN, { clientId: client.client_id, redirectUri: REDIRECT_URI, challenge, resource: `${baseA}/mcp` });
    const issued = await tokenRequest(baseA, { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT_URI, client_id: client.client_id });
    expect(issued.status).toBe(200);

    // The balancer: cancellations go to B, everything else to A.
    const sentTo: string[] = [];
    const balancer: typeof fetch = (input, init) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      const cancellation = typeof init?.body === 'string' && init.body.includes('"notifications/cancelled"');
      if (cancellation) url.port = new URL(baseB).port;
      sentTo.push(cancellation ? 'b' : 'a');
      return fetch(url, init);
    };
    const transport = new StreamableHTTPClientTransport(new URL(`${baseA}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${issued.json.access_token}` } },
      fetch: balancer,
    });
    const mcp = new Client({ name: 'bundle-cancel-replicas-e2e', version: '0' });
    try {
      await mcp.connect(transport);
      const controller = new AbortController();
      const call = mcp.callTool({ name: 'rec__wait', arguments: { text: 'cancel me across' } }, undefined, { signal: controller.signal });
      await until(() => upstream.received.some((m) => m.params?.arguments?.text === 'cancel me across'), 'the call upstream');
      controller.abort('the user pressed stop');
      await expect(call).rejects.toThrow();

      await until(() => upstream.aborted.includes('cancel me across'), 'the upstream to see the cancellation');
      const sentId = upstream.received.find((m) => m.params?.arguments?.text === 'cancel me across')!.id;
      expect(upstream.received.some((m) => m.method === 'notifications/cancelled' && m.params.requestId === sentId)).toBe(true);
      expect(sentTo).toContain('b');
    } finally {
      await mcp.close().catch(() => undefined);
    }
  }, 60_000);
});
