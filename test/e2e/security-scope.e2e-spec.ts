import http from 'node:http';
import { AddressInfo } from 'node:net';
import zlib from 'node:zlib';
import { AuditService } from '../../server/src/audit/audit.service';
import { startUpstream, RunningUpstream } from '../fixtures/upstream-mcp-server';
import { TestBrowser } from '../helpers/browser';
import { ADMIN, startTestGateway, TestGateway } from '../helpers/gateway';
import { call, HttpResult, obtainCode, pkce, registerPublicClient, tokenRequest } from '../helpers/raw-oauth';

const CALLBACK = 'http://127.0.0.1:45679/callback';
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
/** MAX_CHECKED_BODY in mcp-proxy.service.ts. */
const CHECKED_BODY_CAP = 4 * 1024 * 1024;

interface Received {
  method: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/**
 * A loopback tap in front of the fixture upstream: it records every request's exact
 * bytes (the fixture records headers only), then forwards it unchanged, so a test can
 * tell what the upstream was asked to execute.
 */
async function startTap(target: string) {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      received.push({ method: req.method ?? '', headers: req.headers, body });
      const forward = http.request(target, { method: req.method, headers: req.headers }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
      forward.on('error', () => res.destroy());
      forward.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`,
    received,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

const toolsCall = (id = 2, name = 'echo') => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: { text: 'ran' } } });
const toolsList = (id = 3) => ({ jsonrpc: '2.0', id, method: 'tools/list' });

describe('scope checks decide from the body the upstream executes', () => {
  let upstream: RunningUpstream;
  let tap: Awaited<ReturnType<typeof startTap>>;
  let gw: TestGateway;
  let readOnly: string;
  let full: string;

  async function tokenWithScope(scope?: string): Promise<string> {
    const base = gw.config.publicUrl;
    const reg = await registerPublicClient(base, CALLBACK);
    const { verifier, challenge } = pkce();
    const code = await obtainCode(base, new TestBrowser(), ADMIN, { clientId: reg.client_id, redirectUri: CALLBACK, challenge, scope });
    const tokens = (await tokenRequest(base, { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: CALLBACK, client_id: reg.client_id })).json;
    expect(tokens.scope).toBe(scope ?? 'mcp:read mcp:tools');
    return tokens.access_token;
  }

  /** POSTs raw bytes (or JSON) with the headers a Streamable HTTP client sends. */
  function post(token: string, body: unknown, headers: Record<string, string> = {}): Promise<HttpResult> {
    const bytes = Buffer.isBuffer(body) ? body : typeof body === 'string' ? body : JSON.stringify(body);
    return call(gw.mcpUrl('u'), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', Authorization: `Bearer ${token}`, ...headers },
      body: bytes,
    });
  }

  /** Every message the upstream was sent, as text, from request number `from` on. */
  const upstreamBodies = (from: number) => tap.received.slice(from).map((r) => r.body.toString('utf8'));

  const auditCount = async (type: string) => {
    const audit = gw.app.get(AuditService);
    await audit.flush();
    return (await audit.list({ type, limit: 10_000 })).length;
  };
  /** Waits (bounded) until `type` has more than `count` audit rows: a request is audited when its response closes. */
  async function auditedAfter(type: string, count: number): Promise<boolean> {
    for (let i = 0; i < 50; i++) {
      if ((await auditCount(type)) > count) return true;
      await new Promise((r) => setTimeout(r, 20));
    }
    return false;
  }
  /** Waits (bounded) for an audit row that matches. */
  async function auditRow(type: string, match: (row: { status: number | null; mcpMethod: string | null }) => boolean) {
    const audit = gw.app.get(AuditService);
    for (let i = 0; i < 50; i++) {
      await audit.flush();
      const row = (await audit.list({ type, limit: 10_000 })).find(match);
      if (row) return row;
      await new Promise((r) => setTimeout(r, 20));
    }
    return undefined;
  }

  beforeAll(async () => {
    // Stateless: every POST is served on its own, so a test needs no initialize handshake.
    upstream = await startUpstream({ stateless: true });
    tap = await startTap(upstream.url);
    gw = await startTestGateway({ config: { upstreams: [{ slug: 'u', url: tap.url }] } });
    readOnly = await tokenWithScope('mcp:read');
    full = await tokenWithScope();
  });
  afterAll(async () => {
    await gw.close();
    await tap.close();
    await upstream.close();
    gw.cleanup();
  });

  describe('the Mcp-Method / Mcp-Name headers are never an authority', () => {
    it('a read-only token cannot call a tool by labelling the request Mcp-Method: tools/list: 400, and nothing reaches the upstream', async () => {
      const before = tap.received.length;
      const audited = await auditCount('request.malformed');
      const res = await post(readOnly, toolsCall(7), { 'Mcp-Method': 'tools/list', 'MCP-Protocol-Version': '2026-07-28' });
      expect(res.status).toBe(400);
      expect(res.json).toEqual({ jsonrpc: '2.0', id: 7, error: { code: -32020, message: 'Header mismatch: Mcp-Method header does not match the body' } });
      expect(upstreamBodies(before)).toEqual([]);
      expect(await auditedAfter('request.malformed', audited)).toBe(true);
    });

    it('an Mcp-Name that names another tool than the body is refused the same way', async () => {
      const before = tap.received.length;
      const res = await post(readOnly, toolsCall(8, 'echo'), { 'Mcp-Method': 'tools/call', 'Mcp-Name': 'whoami' });
      expect(res.status).toBe(400);
      expect(res.json.error).toEqual({ code: -32020, message: 'Header mismatch: Mcp-Name header does not match the body' });
      expect(upstreamBodies(before)).toEqual([]);
    });

    it('an Mcp-Method header next to a non-JSON body or a batch is refused: it mirrors nothing', async () => {
      const before = tap.received.length;
      const garbage = await post(readOnly, 'not json', { 'Mcp-Method': 'tools/list' });
      expect(garbage.status).toBe(400);
      const batch = await post(readOnly, [toolsList(1), toolsList(2)], { 'Mcp-Method': 'tools/list' });
      expect(batch.status).toBe(400);
      expect(batch.json.error.code).toBe(-32020);
      expect(upstreamBodies(before)).toEqual([]);
    });

    it('honest headers pass: tools/list is served, tools/call gets 403 insufficient_scope', async () => {
      const before = tap.received.length;
      const list = await post(readOnly, toolsList(), { 'Mcp-Method': 'tools/list' });
      expect(list.status).toBe(200);
      expect(list.text).toContain('echo');
      const named = await post(readOnly, toolsCall(4, 'echo'), { 'Mcp-Method': 'tools/call', 'Mcp-Name': 'echo' });
      expect(named.status).toBe(403);
      expect(named.headers.get('www-authenticate')).toContain('error="insufficient_scope"');
      expect(upstreamBodies(before)).toEqual([JSON.stringify(toolsList())]);
    });

    it('Mcp-Name may use the base64 sentinel of the 2026-07-28 transport', async () => {
      const res = await post(readOnly, toolsCall(5, 'echo'), { 'Mcp-Method': 'tools/call', 'Mcp-Name': `=?base64?${Buffer.from('echo').toString('base64')}?=` });
      expect(res.status).toBe(403); // the headers matched; the scope did not
    });

    it('an unrestricted token is not parsed (its request streams on as is), and the audit records the body method over the header', async () => {
      const before = tap.received.length;
      const res = await post(full, toolsCall(6), { 'Mcp-Method': 'tools/list' });
      // The fixture upstream does not check the header; the tool runs because the token allows it.
      expect(res.status).toBe(200);
      expect(res.text).toContain('ran');
      expect(upstreamBodies(before)).toEqual([JSON.stringify(toolsCall(6))]);
      expect(await auditRow('mcp.request', (r) => r.status === 200 && r.mcpMethod === 'tools/call')).toBeDefined();
    });
  });

  describe('a body the gateway cannot read is refused for a restricted token, and what it reads is what it forwards', () => {
    const bytes = (value: unknown) => Buffer.from(JSON.stringify(value));

    it('a BOM-prefixed tools/call is read after all (RFC 8259 §8.1): 403 insufficient_scope, nothing forwarded', async () => {
      const before = tap.received.length;
      const res = await post(readOnly, Buffer.concat([BOM, bytes(toolsCall(10))]));
      expect(res.status).toBe(403);
      expect(res.headers.get('www-authenticate')).toContain('error="insufficient_scope"');
      expect(upstreamBodies(before)).toEqual([]);
    });

    it('a BOM-prefixed tools/list is served, and the upstream receives it without the BOM', async () => {
      const before = tap.received.length;
      const res = await post(readOnly, Buffer.concat([BOM, bytes(toolsList(11))]));
      expect(res.status).toBe(200);
      expect(res.text).toContain('echo');
      expect(tap.received.slice(before).map((r) => r.body)).toEqual([bytes(toolsList(11))]);
    });

    it.each<[string, (b: Buffer) => Buffer]>([
      ['gzip', zlib.gzipSync],
      ['deflate', zlib.deflateSync],
      ['br', zlib.brotliCompressSync],
    ])('a %s-encoded tools/call is decoded and refused: 403, nothing forwarded', async (coding, encode) => {
      const before = tap.received.length;
      const res = await post(readOnly, encode(bytes(toolsCall(12))), { 'Content-Encoding': coding });
      expect(res.status).toBe(403);
      expect(res.headers.get('www-authenticate')).toContain('error="insufficient_scope"');
      expect(upstreamBodies(before)).toEqual([]);
    });

    it('a gzip-encoded tools/list is served, and the upstream receives the plain JSON with its length', async () => {
      const before = tap.received.length;
      const res = await post(readOnly, zlib.gzipSync(Buffer.concat([BOM, bytes(toolsList(13))])), { 'Content-Encoding': 'gzip' });
      expect(res.status).toBe(200);
      expect(res.text).toContain('echo');
      const [received] = tap.received.slice(before);
      expect(received.body).toEqual(bytes(toolsList(13)));
      expect(received.headers['content-encoding']).toBeUndefined();
      expect(received.headers['content-length']).toBe(String(bytes(toolsList(13)).length));
    });

    it('a batch is decided on every message: one tools/call in it is 403', async () => {
      const before = tap.received.length;
      const res = await post(readOnly, [toolsList(14), toolsCall(15)]);
      expect(res.status).toBe(403);
      expect(upstreamBodies(before)).toEqual([]);
    });

    it.each<[string, Buffer, number]>([
      ['not JSON', Buffer.from('tools/call echo'), -32700],
      ['JSON in UTF-16', Buffer.from(JSON.stringify(toolsCall(16)), 'utf16le'), -32700],
      ['two BOMs', Buffer.concat([BOM, BOM, Buffer.from(JSON.stringify(toolsCall(16)))]), -32700],
      ['JSON that is not JSON-RPC', Buffer.from(JSON.stringify({ method: 'tools/call', params: { name: 'echo', arguments: { text: 'ran' } } })), -32600],
      ['an empty batch', Buffer.from('[]'), -32600],
      ['a method named twice', Buffer.from('{"jsonrpc":"2.0","id":16,"method":"tools/call","params":{"name":"echo","arguments":{"text":"ran"}},"method":"tools/list"}'), -32600],
    ])('%s is refused with 400 and a JSON-RPC error, audited, and never forwarded', async (_name, body, code) => {
      const before = tap.received.length;
      const audited = await auditCount('request.malformed');
      const res = await post(readOnly, body);
      expect(res.status).toBe(400);
      expect(res.json).toMatchObject({ jsonrpc: '2.0', id: null, error: { code } });
      expect(upstreamBodies(before)).toEqual([]);
      expect(await auditedAfter('request.malformed', audited)).toBe(true);
    });

    it('a body over the cap once decoded is 413, however small it is sent', async () => {
      const before = tap.received.length;
      const bomb = zlib.gzipSync(Buffer.alloc(CHECKED_BODY_CAP + 1, 0x20));
      const res = await post(readOnly, bomb, { 'Content-Encoding': 'gzip' });
      expect(res.status).toBe(413);
      expect(res.json.error.code).toBe(-32600);
      expect(upstreamBodies(before)).toEqual([]);
      expect(await auditRow('request.malformed', (r) => r.status === 413)).toBeDefined();
    });

    it('a coding the gateway cannot undo is 415 with Accept-Encoding, and a body that is not the coding it claims 400', async () => {
      const before = tap.received.length;
      const unknown = await post(readOnly, bytes(toolsCall(17)), { 'Content-Encoding': 'compress' });
      expect(unknown.status).toBe(415);
      expect(unknown.headers.get('accept-encoding')).toBe('gzip, deflate, br');
      const corrupt = await post(readOnly, bytes(toolsCall(18)), { 'Content-Encoding': 'gzip' });
      expect(corrupt.status).toBe(400);
      expect(corrupt.json.error.code).toBe(-32700);
      expect(upstreamBodies(before)).toEqual([]);
    });

    it('an unrestricted token keeps the fast path: its gzip body streams on byte for byte, Content-Encoding and all', async () => {
      const before = tap.received.length;
      const sent = zlib.gzipSync(bytes(toolsList(19)));
      await post(full, sent, { 'Content-Encoding': 'gzip' });
      const [received] = tap.received.slice(before);
      expect(received.body).toEqual(sent);
      expect(received.headers['content-encoding']).toBe('gzip');
    });
  });
});
