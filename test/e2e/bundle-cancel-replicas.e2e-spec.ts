import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { RECORDING_UPSTREAM_KEY, RecordingUpstream, startRecordingUpstream } from '../fixtures/recording-mcp-upstream';
import { ADMIN } from '../helpers/gateway';
import { accessTokenFor } from '../helpers/raw-oauth';
import { NO_RATE_LIMITS, prepareReplicas, ReplicaSet, within } from '../helpers/replicas';

/**
 * A bundle session is any replica's, so a client's notifications/cancelled may reach another
 * replica than the tools/call it cancels: it still reaches the upstream. Two gateway processes on
 * one PostgreSQL database; always on PostgreSQL, whatever GATEHOUSE_TEST_DB says.
 */
describe('bundle cancellation across two replicas', () => {
  let upstream: RecordingUpstream;
  let replicas: ReplicaSet;

  beforeAll(async () => {
    upstream = await startRecordingUpstream();
    process.env.TEST_RELAY_KEY = RECORDING_UPSTREAM_KEY;
    replicas = await prepareReplicas({ prefix: 'gatehouse-bundle-cancel-', balancer: true });
    await replicas.start(() => ({
      rate_limit: NO_RATE_LIMITS,
      upstreams: [{ slug: 'rec', name: 'Recorder', url: upstream.url, auth: { mode: 'headers', headers: { 'X-API-Key': '${TEST_RELAY_KEY}' } } }],
    }));
  }, 150_000);

  afterAll(async () => {
    await replicas?.stop();
    await upstream?.close();
  });

  it('a cancellation that lands on B ends the call open on A, and the upstream is told', async () => {
    const base = replicas.publicUrl;
    replicas.balancer!.to('a');
    const token = await accessTokenFor(base, ADMIN, { resource: `${base}/mcp` });

    // Through the balancer: cancellations to B, everything else to A.
    const toReplicas: typeof fetch = (input, init) => {
      const cancellation = typeof init?.body === 'string' && init.body.includes('"notifications/cancelled"');
      const headers = new Headers(init?.headers);
      headers.set('x-replica', cancellation ? 'b' : 'a');
      return fetch(input, { ...init, headers });
    };
    const transport = new StreamableHTTPClientTransport(new URL(`${base}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
      fetch: toReplicas,
    });
    const mcp = new Client({ name: 'bundle-cancel-replicas-e2e', version: '0' });
    try {
      await mcp.connect(transport);
      const controller = new AbortController();
      const call = mcp.callTool({ name: 'rec__wait', arguments: { text: 'cancel me across' } }, undefined, { signal: controller.signal });
      // The call reached the upstream (through A).
      expect(await within(5_000, async () => upstream.received.some((m) => m.params?.arguments?.text === 'cancel me across'))).toBe(true);
      controller.abort('the user pressed stop');
      await expect(call).rejects.toThrow();

      // The upstream saw the cancellation that went to B.
      expect(await within(5_000, async () => upstream.aborted.includes('cancel me across'))).toBe(true);
      const sentId = upstream.received.find((m) => m.params?.arguments?.text === 'cancel me across')!.id;
      expect(upstream.received.some((m) => m.method === 'notifications/cancelled' && m.params.requestId === sentId)).toBe(true);
      expect(replicas.balancer!.served.b).toBeGreaterThanOrEqual(1);
    } finally {
      await mcp.close().catch(() => undefined);
    }
  }, 60_000);
});
