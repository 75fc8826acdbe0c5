import http from 'node:http';
import net, { AddressInfo } from 'node:net';
import { AuditService } from '../../server/src/audit/audit.service';
import { ADMIN, startTestGateway, TestGateway } from '../helpers/gateway';
import { accessTokenFor } from '../helpers/raw-oauth';

/**
 * Issue 12: the proxy's per-request work on the unrestricted path. These tests pin what the
 * faster path must still do (and one thing it now does in fewer writes).
 */
const REDIRECT = 'http://127.0.0.1:7777/cb';
const CALL = JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'echo', arguments: { text: 'hi' } } });
const EVENT = 'event: message\ndata: {"jsonrpc":"2.0","id":3,"result":{"content":[]}}\n\n';

const tokenFor = (gw: TestGateway, slug: string): Promise<string> => accessTokenFor(gw.config.publicUrl, ADMIN, { resource: gw.mcpUrl(slug), redirectUri: REDIRECT });

/**
 * What the gateway writes to the sockets of its own clients (the server side of connections to
 * `port`), one entry per write handed to the socket's handle (a writev counts once). It wraps
 * node's net.Socket#_writeGeneric, the one path of both write and writev to a handle.
 */
function watchWrites(port: number): { writes: string[]; stop: () => void } {
  const proto = net.Socket.prototype as unknown as { _writeGeneric: (writev: boolean, data: unknown, ...rest: unknown[]) => unknown };
  const original = proto._writeGeneric;
  if (typeof original !== 'function') throw new Error('net.Socket#_writeGeneric is gone: this test needs another way to watch writes');
  const writes: string[] = [];
  const text = (chunk: unknown): string => (typeof chunk === 'string' ? chunk : Buffer.isBuffer(chunk) ? chunk.toString('latin1') : '');
  proto._writeGeneric = function (this: net.Socket, writev: boolean, data: unknown, ...rest: unknown[]) {
    if (this.localPort === port) {
      const parts = writev ? (data as Array<{ chunk: unknown } | Buffer>).map((p) => text(Buffer.isBuffer(p) ? p : p.chunk)) : [text(data)];
      writes.push(parts.join(''));
    }
    return original.call(this, writev, data, ...rest);
  };
  return { writes, stop: () => void (proto._writeGeneric = original) };
}

describe('hotpath: the proxy of an unrestricted token', () => {
  let upstream: http.Server;
  let gw: TestGateway;
  let token: string;
  /** Set per test: lets the `late` upstream send its event. */
  let release: () => void = () => undefined;

  beforeAll(async () => {
    upstream = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'Content-Type': 'text/event-stream' });
        // `prompt`: head and event in one write, as the MCP SDK answers a quick tools/call.
        if (req.headers['x-test'] === 'prompt') return void res.end(EVENT);
        // `late`: the head now, the event only once the test saw the head arrive at the client.
        res.flushHeaders();
        release = () => res.end(EVENT);
      });
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/mcp`;
    gw = await startTestGateway({ config: { upstreams: [{ slug: 'sse', url, auth: { mode: 'headers', headers: { 'X-Api-Key': 'k' } } }] } });
    token = await tokenFor(gw, 'sse');
  });
  afterAll(async () => {
    await gw?.close();
    upstream?.closeAllConnections();
    await new Promise((r) => upstream?.close(r));
    gw?.cleanup();
  });

  function post(kind: 'prompt' | 'late', onHead?: () => void): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const headers = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', 'X-Test': kind };
      const req = http.request(gw.mcpUrl('sse'), { method: 'POST', headers, agent: false }, (res) => {
        onHead?.();
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(CALL);
    });
  }

  it("sends an event stream's head together with its first event when the upstream sent them together (one write, not two)", async () => {
    const port = new URL(gw.config.publicUrl).port;
    const watch = watchWrites(Number(port));
    let res;
    try {
      res = await post('prompt');
    } finally {
      watch.stop();
    }
    expect(res).toEqual({ status: 200, body: EVENT });
    // Before: the head went out alone (flushHeaders), the event in a write of its own.
    expect(watch.writes[0]).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(watch.writes[0]).toContain('event: message');
  });

  it("still sends a silent event stream's head at once: the client sees it before the upstream's first event", async () => {
    // The upstream sends its event only when the head has reached the client: a head held back
    // until the first event would leave this request waiting forever.
    const res = await post('late', () => release());
    expect(res).toEqual({ status: 200, body: EVENT });
  });

  it('audits both calls with their method and tool, as before', async () => {
    const audit = gw.app.get(AuditService);
    const rows = (await audit.list({ type: 'mcp.request' })).filter((r) => r.upstreamSlug === 'sse');
    expect(rows).toHaveLength(2);
    for (const row of rows) expect(row).toMatchObject({ outcome: 'success', status: 200, mcpMethod: 'tools/call', tool: 'echo' });
  });
});
