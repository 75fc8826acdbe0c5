import { RunningUpstream, startUpstream } from '../fixtures/upstream-mcp-server';
import { adminApi, signInToConsole } from '../helpers/admin-api';
import { TestBrowser } from '../helpers/browser';
import { ADMIN } from '../helpers/gateway';
import { call, mcpPost, obtainCode, pkce, registerPublicClient, tokenRequest } from '../helpers/raw-oauth';
import { NO_RATE_LIMITS, prepareReplicas, ReplicaSet, within } from '../helpers/replicas';

const REDIRECT_URI = 'http://127.0.0.1:9999/callback';

/**
 * What main added after the PostgreSQL work, across two replicas on one PostgreSQL database: tool
 * rules and named bundles changed on one replica are applied by the other at once (the change
 * feed), not after a restart. Always on PostgreSQL, whatever GATEHOUSE_TEST_DB says.
 */
describe('replicas follow tool rules and named bundles changed on another replica', () => {
  let upstream: RunningUpstream;
  let replicas: ReplicaSet;
  let baseA: string;
  let baseB: string;

  beforeAll(async () => {
    upstream = await startUpstream({ stateless: true });
    replicas = await prepareReplicas({ prefix: 'gatehouse-pgmerge-replicas-' });
    await replicas.start(() => ({ rate_limit: NO_RATE_LIMITS, upstreams_policy: { allow_private_networks: true } }));
    [baseA, baseB] = [replicas.url('a'), replicas.url('b')];
  }, 150_000);

  afterAll(async () => {
    await replicas?.stop();
    await upstream?.close();
  });

  it('a tool denied on one replica is refused by the other', async () => {
    const admin = adminApi(baseA, await signInToConsole(baseA, ADMIN));
    expect((await admin('POST', '/upstreams', { slug: 'c', url: upstream.url })).status).toBe(201);
    // B learns of the new upstream through the feed as well.
    expect(await within(3_000, async () => (await call(`${baseB}/.well-known/oauth-protected-resource/mcp/c`)).status === 200)).toBe(true);
    const client = await registerPublicClient(baseA, REDIRECT_URI);
    const { verifier, challenge } = pkce();
    const code = await obtainCode(baseA, new TestBrowser(), ADMIN, { clientId: client.client_id, redirectUri: REDIRECT_URI, challenge, resource: `${baseA}/mcp/c` });
    const issued = await tokenRequest(baseA, { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT_URI, client_id: client.client_id });
    expect(issued.status).toBe(200);
    const echo = { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'echo', arguments: { text: 'hi' } } };
    const refusedOnB = async () => {
      const res = await mcpPost(`${baseB}/mcp/c`, issued.json.access_token, echo);
      return res.text.includes('"tool_policy"');
    };
    expect(await refusedOnB()).toBe(false);

    expect((await admin('PUT', '/upstreams/c/tool-rules', { rules: [{ effect: 'deny', tools: ['echo'] }] })).status).toBe(200);
    expect(await within(3_000, refusedOnB)).toBe(true);
    const refused = await mcpPost(`${baseB}/mcp/c`, issued.json.access_token, echo);
    expect(refused.json).toMatchObject({ jsonrpc: '2.0', id: 7, error: { code: -32602, data: { reason: 'tool_policy', tool: 'echo' } } });
  });

  it('a named bundle created on one replica is served by the other, and goes from it when deleted', async () => {
    const admin = adminApi(baseA, await signInToConsole(baseA, ADMIN));
    const metadataOnB = async () => (await call(`${baseB}/.well-known/oauth-protected-resource/mcp/b/team`)).status;
    expect(await metadataOnB()).toBe(404);
    expect((await admin('POST', '/bundles', { name: 'team', upstreams: ['c'] })).status).toBe(201);
    expect(await within(3_000, async () => (await metadataOnB()) === 200)).toBe(true);
    expect((await admin('DELETE', '/bundles/team')).status).toBe(204);
    expect(await within(3_000, async () => (await metadataOnB()) === 404)).toBe(true);
  });
});
