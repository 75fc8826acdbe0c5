import { createServer, Server as HttpServer } from 'node:http';
import { AddressInfo } from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Progress } from '@modelcontextprotocol/sdk/types.js';
import { startUpstream, RunningUpstream } from '../fixtures/upstream-mcp-server';
import { createDemoMcpHandler } from '../../server/src/demo/demo-mcp';

type TextContent = { type: 'text'; text: string };

function textOf(result: unknown): string {
  const content = (result as { content: TextContent[] }).content;
  return content.map((c) => c.text).join('');
}

async function connect(url: string, headers?: Record<string, string>): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const client = new Client({ name: 'fixture-test', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(url), headers ? { requestInit: { headers } } : undefined);
  await client.connect(transport);
  return { client, transport };
}

interface SseEvent {
  id?: string;
  data: string;
}

/** Minimal SSE reader over a fetch body: yields parsed events until the stream ends or the caller stops. */
async function* sseEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<SseEvent> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += decoder.decode(value, { stream: true });
      let idx: number;
      while ((idx = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, idx);
        buf = buf.slice(idx + 2);
        const ev: SseEvent = { data: '' };
        for (const line of block.split('\n')) {
          if (line.startsWith('id:')) ev.id = line.slice(3).trim();
          else if (line.startsWith('data:')) ev.data += line.slice(5).trim();
        }
        yield ev;
      }
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}

describe('upstream MCP fixture', () => {
  describe('session mode', () => {
    let up: RunningUpstream;
    let client: Client;
    let transport: StreamableHTTPClientTransport;

    beforeAll(async () => {
      up = await startUpstream({ port: 0 });
      ({ client, transport } = await connect(up.url));
    });

    afterAll(async () => {
      await client?.close();
      await up?.close();
    });

    it('listens on 127.0.0.1 with an ephemeral port and a /mcp url', () => {
      expect(up.port).toBeGreaterThan(0);
      expect(up.url).toBe(`http://127.0.0.1:${up.port}/mcp`);
      expect(transport.sessionId).toEqual(expect.any(String));
    });

    it('lists the tools', async () => {
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name).sort()).toEqual(['big', 'count', 'echo', 'whoami']);
    });

    it('echo round-trips', async () => {
      const result = await client.callTool({ name: 'echo', arguments: { text: 'hello gatehouse' } });
      expect(textOf(result)).toBe('hello gatehouse');
    });

    it('whoami reports anonymous without an x-api-key', async () => {
      const result = await client.callTool({ name: 'whoami', arguments: {} });
      expect(textOf(result)).toBe('anonymous');
    });

    it('count streams n progress notifications', async () => {
      const progress: Progress[] = [];
      const result = await client.callTool({ name: 'count', arguments: { n: 4, delayMs: 5 } }, undefined, {
        onprogress: (p) => progress.push(p),
      });
      expect(textOf(result)).toBe('counted 4');
      expect(progress.map((p) => p.progress)).toEqual([1, 2, 3, 4]);
      expect(progress.every((p) => p.total === 4)).toBe(true);
    });

    it('count uses defaults (n=5)', async () => {
      let calls = 0;
      const result = await client.callTool({ name: 'count', arguments: {} }, undefined, { onprogress: () => calls++ });
      expect(textOf(result)).toBe('counted 5');
      expect(calls).toBe(5);
    });

    it('big returns the requested number of bytes', async () => {
      const result = await client.callTool({ name: 'big', arguments: { bytes: 200_000 } });
      const text = textOf(result);
      expect(text.length).toBe(200_000);
      expect(/^x+$/.test(text)).toBe(true);
    });

    it('records every request with method and headers, including the session id', () => {
      const methods = new Set(up.seen.map((s) => s.method));
      expect(methods.has('POST')).toBe(true);
      const sid = transport.sessionId!;
      expect(up.seen.some((s) => s.headers['mcp-session-id'] === sid)).toBe(true);
    });

    it('the client opened a standalone GET SSE stream', () => {
      expect(up.seen.some((s) => s.method === 'GET' && s.headers['mcp-session-id'] === transport.sessionId)).toBe(true);
    });

    it('supports Last-Event-ID resumption of an interrupted tool-call stream', async () => {
      const base = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
      const init = await fetch(up.url, {
        method: 'POST',
        headers: base,
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 0,
          method: 'initialize',
          params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
        }),
      });
      expect(init.status).toBe(200);
      const sid = init.headers.get('mcp-session-id')!;
      expect(sid).toEqual(expect.any(String));
      await init.text();
      const headers = { ...base, 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' };
      const notified = await fetch(up.url, {
        method: 'POST',
        headers,
        body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
      });
      expect(notified.status).toBe(202);

      const call = await fetch(up.url, {
        method: 'POST',
        headers,
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 7,
          method: 'tools/call',
          params: { name: 'count', arguments: { n: 5, delayMs: 40 }, _meta: { progressToken: 'tok' } },
        }),
      });
      expect(call.headers.get('content-type')).toContain('text/event-stream');
      // Read until the first progress notification, then drop the connection.
      let lastId: string | undefined;
      for await (const ev of sseEvents(call.body!)) {
        expect(ev.id).toEqual(expect.any(String));
        lastId = ev.id;
        if (ev.data && JSON.parse(ev.data).method === 'notifications/progress') break;
      }
      expect(lastId).toBeDefined();

      const resumed = await fetch(up.url, { method: 'GET', headers: { ...headers, accept: 'text/event-stream', 'last-event-id': lastId! } });
      expect(resumed.status).toBe(200);
      const progress: number[] = [];
      let result: { content: TextContent[] } | undefined;
      for await (const ev of sseEvents(resumed.body!)) {
        if (!ev.data) continue;
        const msg = JSON.parse(ev.data);
        if (msg.method === 'notifications/progress') progress.push(msg.params.progress);
        if (msg.id === 7) {
          result = msg.result;
          break;
        }
      }
      expect(progress).toEqual([2, 3, 4, 5]);
      expect(textOf(result)).toBe('counted 5');
      expect(up.seen.some((s) => s.method === 'GET' && s.headers['last-event-id'] === lastId)).toBe(true);
      await fetch(up.url, { method: 'DELETE', headers });
    });

    it('rejects an unknown session id with 404', async () => {
      const res = await fetch(up.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': 'nope' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }),
      });
      expect(res.status).toBe(404);
    });

    it('DELETE terminates the session', async () => {
      const other = await connect(up.url);
      const sid = other.transport.sessionId!;
      await other.transport.terminateSession();
      expect(up.seen.some((s) => s.method === 'DELETE' && s.headers['mcp-session-id'] === sid)).toBe(true);
      const res = await fetch(up.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': sid },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }),
      });
      expect(res.status).toBe(404);
      await other.client.close();
    });
  });

  describe('requiredHeaders', () => {
    let up: RunningUpstream;

    beforeAll(async () => {
      up = await startUpstream({ requiredHeaders: { 'X-Api-Key': 'secret-a' } });
    });

    afterAll(async () => {
      await up?.close();
    });

    it('rejects a client without the header', async () => {
      const client = new Client({ name: 'no-key', version: '1.0.0' });
      await expect(client.connect(new StreamableHTTPClientTransport(new URL(up.url)))).rejects.toThrow();
      await client.close();
      const res = await fetch(up.url, { method: 'POST', body: '{}' });
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({ error: 'unauthorized' });
    });

    it('accepts a client with the header, records it, and whoami sees it', async () => {
      const { client } = await connect(up.url, { 'x-api-key': 'secret-a' });
      try {
        const result = await client.callTool({ name: 'whoami', arguments: {} });
        expect(textOf(result)).toBe('secret-a');
        expect(up.seen.some((s) => s.headers['x-api-key'] === 'secret-a')).toBe(true);
        expect(up.seen.some((s) => s.headers['x-api-key'] === undefined)).toBe(true); // the rejected ones
      } finally {
        await client.close();
      }
    });
  });

  describe('stateless mode', () => {
    let up: RunningUpstream;

    beforeAll(async () => {
      up = await startUpstream({ stateless: true, path: '/rpc' });
    });

    afterAll(async () => {
      await up?.close();
    });

    it('serves tools without a session id', async () => {
      expect(up.url).toBe(`http://127.0.0.1:${up.port}/rpc`);
      const { client, transport } = await connect(up.url, { 'x-api-key': 'k2' });
      try {
        expect(transport.sessionId).toBeUndefined();
        expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'stateless' } }))).toBe('stateless');
        expect(textOf(await client.callTool({ name: 'whoami', arguments: {} }))).toBe('k2');
        const progress: number[] = [];
        const result = await client.callTool({ name: 'count', arguments: { n: 3, delayMs: 1 } }, undefined, {
          onprogress: (p) => progress.push(p.progress),
        });
        expect(textOf(result)).toBe('counted 3');
        expect(progress).toEqual([1, 2, 3]);
        expect(up.seen.every((s) => s.headers['mcp-session-id'] === undefined)).toBe(true);
      } finally {
        await client.close();
      }
    });
  });

  it('close() resolves promptly while a client still holds a session and its GET stream', async () => {
    const up = await startUpstream();
    const { client } = await connect(up.url);
    await client.listTools();
    const started = Date.now();
    await up.close();
    expect(Date.now() - started).toBeLessThan(2000);
    await client.close();
  });

  describe('demo handler', () => {
    let http: HttpServer;
    let url: string;
    const demo = createDemoMcpHandler();

    beforeAll(async () => {
      http = createServer((req, res) => {
        void demo.handle(req, res);
      });
      await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
      url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`;
    });

    afterAll(async () => {
      await demo.close();
      await new Promise<void>((resolve) => {
        http.close(() => resolve());
        http.closeAllConnections();
      });
    });

    it('serves echo and time via the SDK client', async () => {
      const { client } = await connect(url);
      try {
        expect(client.getServerVersion()?.name).toBe('gatehouse-demo');
        const { tools } = await client.listTools();
        expect(tools.map((t) => t.name).sort()).toEqual(['echo', 'time']);
        expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'demo!' } }))).toBe('demo!');
        const time = textOf(await client.callTool({ name: 'time', arguments: {} }));
        expect(new Date(time).toISOString()).toBe(time);
      } finally {
        await client.close();
      }
    });

    it('accepts a pre-parsed body too', async () => {
      const server = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          const r = req as typeof req & { body?: unknown };
          if (chunks.length) r.body = JSON.parse(Buffer.concat(chunks).toString());
          void demo.handle(r, res);
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const { client } = await connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`);
      try {
        expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'parsed' } }))).toBe('parsed');
      } finally {
        await client.close();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
      }
    });
  });
});
