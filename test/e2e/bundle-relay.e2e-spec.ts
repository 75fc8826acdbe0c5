import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { AuditService } from '../../server/src/audit/audit.service';
import { canonicalJson, digestOf } from '../../server/src/audit/tool-arguments';
import { GroupsService } from '../../server/src/identity/groups.service';
import { RECORDING_UPSTREAM_KEY, RecordingUpstream, startRecordingUpstream } from '../fixtures/recording-mcp-upstream';
import { ADMIN, startTestGateway, TestGateway } from '../helpers/gateway';
import { connectWithOAuth } from '../helpers/oauth-client';
import { text, until } from '../helpers/mcp-results';

/**
 * The bundle's relayed tools/call (bundle-relay.ts), against an upstream that records every
 * JSON-RPC message it receives (test/fixtures/recording-mcp-upstream.ts), so what the gateway sends
 * upstream is seen as well as what the caller gets back.
 */
describe('bundle relay: tools/call goes to the upstream without the SDK server and client in between', () => {
  let upstream: RecordingUpstream;
  let gw: TestGateway;
  let bundleUrl: string;
  let token: string;
  const clients: Client[] = [];

  beforeAll(async () => {
    upstream = await startRecordingUpstream();
    process.env.TEST_RELAY_KEY = RECORDING_UPSTREAM_KEY;
    gw = await startTestGateway({
      config: {
        upstreams: [
          { slug: 'rec', name: 'Recorder', url: upstream.url, auth: { mode: 'headers', headers: { 'X-API-Key': '${TEST_RELAY_KEY}' } } },
          { slug: 'slow', name: 'Slowpoke', url: upstream.url, timeout: 1, auth: { mode: 'headers', headers: { 'X-API-Key': '${TEST_RELAY_KEY}' } } },
        ],
      },
    });
    bundleUrl = `${gw.config.publicUrl}/mcp`;
    const connected = await connectWithOAuth(bundleUrl, ADMIN);
    clients.push(connected.client);
    token = connected.provider.tokens()!.access_token;
  });
  afterAll(async () => {
    for (const c of clients) await c.close().catch(() => undefined);
    await gw?.close();
    await upstream?.close();
    gw?.cleanup();
  });

  /** A request of the stateless 2026-07-28 revision (no session), answered as JSON or as an event stream. */
  async function post(body: unknown): Promise<{ status: number; type: string; messages: Array<Record<string, any>> }> {
    const res = await fetch(bundleUrl, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28' },
      body: JSON.stringify(body),
    });
    const raw = await res.text();
    const type = res.headers.get('content-type') ?? '';
    const messages = type.includes('text/event-stream')
      ? raw
          .split('\n')
          .filter((l) => l.startsWith('data: '))
          .map((l) => JSON.parse(l.slice(6)) as Record<string, any>)
      : [JSON.parse(raw) as Record<string, any>];
    return { status: res.status, type, messages };
  }
  const sentUpstream = (tool: string) => upstream.received.filter((m) => m.method === 'tools/call' && m.params?.name === tool);

  it("sends the tool's own name under an id of the gateway's, and gives the caller its own id back", async () => {
    for (const id of [7, 'call-seven']) {
      const { status, type, messages } = await post({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'rec__echo', arguments: { text: `hi ${id}` } } });
      expect(status).toBe(200);
      // No notification came: the answer is plain JSON.
      expect(type).toContain('application/json');
      expect(messages).toEqual([{ jsonrpc: '2.0', id, result: { content: [{ type: 'text', text: `hi ${id}` }] } }]);
      const sent = sentUpstream('echo').find((m) => m.params.arguments.text === `hi ${id}`)!;
      expect(sent.params).toEqual({ name: 'echo', arguments: { text: `hi ${id}` } });
      expect(sent.id).toEqual(expect.stringMatching(/^gatehouse-/));
    }
  });

  it('audits each call with the real upstream and tool and the digest of its arguments', async () => {
    const args = { text: 'digest me', ms: 1 };
    await post({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'rec__echo', arguments: args } });
    const audit = gw.app.get(AuditService);
    const digest = digestOf(canonicalJson(args));
    await until(async () => (await audit.list({ limit: 500 })).some((r) => r.toolArguments?.digest === digest), 'the row with the digest');
    const row = (await audit.list({ limit: 500 })).find((r) => r.toolArguments?.digest === digest)!;
    expect(row).toMatchObject({ type: 'mcp.request', outcome: 'success', upstreamSlug: 'rec', tool: 'echo', mcpMethod: 'tools/call', status: 200 });
    expect(row.toolArguments).toEqual({ digest, of: 'arguments' });
    expect(JSON.stringify(row)).not.toContain('digest me');
  });

  it('reads no group memberships per call: the tool policy looks the caller up itself (cached)', async () => {
    const groupsOf = jest.spyOn(gw.app.get(GroupsService), 'groupsOf');
    try {
      expect(text(await clients[0].callTool({ name: 'rec__echo', arguments: { text: 'no groups' } }))).toBe('no groups');
      expect(groupsOf).not.toHaveBeenCalled();
    } finally {
      groupsOf.mockRestore();
    }
  });

  it('passes progress on as it comes, on an event stream ending with the response', async () => {
    const { type, messages } = await post({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'rec__progress', arguments: {}, _meta: { progressToken: 'tok-1' } } });
    expect(type).toContain('text/event-stream');
    expect(messages.slice(0, 3).map((m) => [m.method, m.params.progressToken, m.params.progress])).toEqual([
      ['notifications/progress', 'tok-1', 1],
      ['notifications/progress', 'tok-1', 2],
      ['notifications/progress', 'tok-1', 3],
    ]);
    expect(messages[3]).toEqual({ jsonrpc: '2.0', id: 3, result: { content: [{ type: 'text', text: 'done' }] } });
  });

  it("passes the upstream's own JSON-RPC error on with the caller's id", async () => {
    const { messages } = await post({ jsonrpc: '2.0', id: 'e1', method: 'tools/call', params: { name: 'rec__refuse', arguments: {} } });
    // (The upstream's SDK server writes its message as "MCP error -32050: …".)
    expect(messages).toEqual([{ jsonrpc: '2.0', id: 'e1', error: { code: -32050, message: expect.stringMatching(/refused by the upstream itself$/) } }]);
  });

  it('answers bad params with -32602 and the caller id, and sends nothing upstream', async () => {
    const before = upstream.received.length;
    for (const params of [{ name: 5 }, { name: 'rec__echo', arguments: ['not', 'an', 'object'] }, undefined]) {
      const { status, messages } = await post({ jsonrpc: '2.0', id: 9, method: 'tools/call', params });
      expect(status).toBe(200);
      expect(messages[0]).toMatchObject({ jsonrpc: '2.0', id: 9, error: { code: -32602 } });
    }
    const unknown = await post({ jsonrpc: '2.0', id: 10, method: 'tools/call', params: { name: 'rec__nothing' } });
    expect(unknown.messages[0]).toMatchObject({ id: 10, error: { code: -32602, message: expect.stringMatching(/no tool named rec__nothing/) } });
    expect(upstream.received.length).toBe(before);
  });

  it('keeps concurrent calls of two sessions apart even when their ids are the same', async () => {
    const second = await connectWithOAuth(bundleUrl, ADMIN);
    clients.push(second.client);
    const first = clients[0];
    // Both SDK clients number their requests alike; the upstream session is shared (same user).
    const [a, b] = await Promise.all([
      first.callTool({ name: 'rec__wait', arguments: { text: 'first', ms: 60 } }),
      second.client.callTool({ name: 'rec__wait', arguments: { text: 'second', ms: 10 } }),
    ]);
    expect([text(a), text(b)]).toEqual(['first', 'second']);
  });

  it('passes a cancellation on to the upstream, for the id it was sent under', async () => {
    const controller = new AbortController();
    const call = clients[0].callTool({ name: 'rec__wait', arguments: { text: 'cancel me' } }, undefined, { signal: controller.signal });
    await until(() => sentUpstream('wait').some((m) => m.params.arguments.text === 'cancel me'), 'the call upstream');
    controller.abort();
    await expect(call).rejects.toThrow();
    await until(() => upstream.aborted.includes('cancel me'), 'the upstream to see the cancellation');
    const sentId = sentUpstream('wait').find((m) => m.params.arguments.text === 'cancel me')!.id;
    expect(upstream.received.some((m) => m.method === 'notifications/cancelled' && m.params.requestId === sentId)).toBe(true);
    const audit = gw.app.get(AuditService);
    await until(async () => (await audit.list({ limit: 500 })).some((r) => r.tool === 'wait' && r.status === 499), 'the cancelled row');
    // The session goes on.
    expect(text(await clients[0].callTool({ name: 'rec__echo', arguments: { text: 'after' } }))).toBe('after');
  });

  it("times a call out at the upstream's timeout: -32001 to the caller, a 504 row, the upstream told to stop", async () => {
    await expect(clients[0].callTool({ name: 'slow__wait', arguments: { text: 'too slow', ms: 30_000 } })).rejects.toThrow(/Slowpoke did not answer within 1 s/);
    await until(() => upstream.aborted.includes('too slow'), 'the upstream to see the cancellation');
    const audit = gw.app.get(AuditService);
    await until(async () => (await audit.list({ limit: 500 })).some((r) => r.upstreamSlug === 'slow' && r.type === 'upstream.timeout' && r.status === 504), 'the 504 row');
  });

  it('opens a new upstream session when the upstream forgot its own (HTTP 404), and the call succeeds', async () => {
    expect(text(await clients[0].callTool({ name: 'rec__echo', arguments: { text: 'before' } }))).toBe('before');
    const initializes = upstream.received.filter((m) => m.method === 'initialize').length;
    upstream.dropSessions();
    expect(text(await clients[0].callTool({ name: 'rec__echo', arguments: { text: 'after restart' } }))).toBe('after restart');
    expect(upstream.received.filter((m) => m.method === 'initialize').length).toBeGreaterThan(initializes);
  });

  it('answers a connection broken mid-call with the "unavailable" message, audited as a 502', async () => {
    const result = await clients[0].callTool({ name: 'rec__crash', arguments: {} });
    expect(result.isError).toBe(true);
    expect(text(result)).toMatch(/Recorder is unavailable right now/);
    expect(text(result)).not.toContain('127.0.0.1');
    const audit = gw.app.get(AuditService);
    await until(async () => (await audit.list({ limit: 500 })).some((r) => r.tool === 'crash' && r.status === 502), 'the 502 row');
  });
});
