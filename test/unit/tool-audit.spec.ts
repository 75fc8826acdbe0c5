import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { boundedToolName, canonicalJson, MAX_CAPTURED_BODY, MAX_TOOL_NAME, MAX_VALUES_CHARS, REDACTED, toolArgumentsOf } from '../../server/src/audit/tool-arguments';
import { BodyCapture, capturedBody, sniffMcpMethod, toolCallAudit } from '../../server/src/proxy/mcp-method';

const sha128 = (bytes: string | Buffer) => createHash('sha256').update(bytes).digest('hex').slice(0, 32);
const call = (args: unknown, extra: Record<string, unknown> = {}) =>
  Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'search', arguments: args }, ...extra }));

describe('canonicalJson (RFC 8785)', () => {
  it('sorts object members at every depth, keeps array order, writes no whitespace', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, 1, { z: true, y: null }], c: 'x' } })).toBe('{"a":{"c":"x","d":[3,1,{"y":null,"z":true}]},"b":1}');
  });

  it('writes numbers and strings as ECMAScript does (RFC 8785 §3.2.2)', () => {
    expect(canonicalJson([1e21, 0.1, -0, 'é\n"', 1.5e-7])).toBe('[1e+21,0.1,0,"é\\n\\"",1.5e-7]');
  });
});

describe('toolArgumentsOf', () => {
  it('digests the canonical arguments: same arguments in another key order or spacing, same digest; other arguments, another', () => {
    const a = toolArgumentsOf(call({ q: 'cats', limit: 5 }), true, 'digest');
    const spaced = Buffer.from('{ "params" : { "arguments" : { "limit" : 5 , "q" : "cats" }, "name":"search" }, "method":"tools/call", "id": 7, "jsonrpc":"2.0" }');
    const b = toolArgumentsOf(spaced, true, 'digest');
    const c = toolArgumentsOf(call({ q: 'dogs', limit: 5 }), true, 'digest');
    expect(a.record).toEqual({ digest: sha128('{"limit":5,"q":"cats"}'), of: 'arguments' });
    expect(b.record).toEqual(a.record);
    expect(c.record.digest).not.toBe(a.record.digest);
    expect(a.tool).toBe('search');
  });

  it('never keeps values in digest mode', () => {
    const { record } = toolArgumentsOf(call({ q: 'private words' }), true, 'digest');
    expect(record.values).toBeUndefined();
    expect(JSON.stringify(record)).not.toContain('private words');
  });

  it('reads absent arguments as the empty object (MCP: arguments is optional)', () => {
    const body = Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'ping' } }));
    expect(toolArgumentsOf(body, true, 'digest').record).toEqual({ digest: sha128('{}'), of: 'arguments' });
  });

  it('describes the first tools/call of a batch', () => {
    const batch = Buffer.from(
      JSON.stringify([
        { jsonrpc: '2.0', id: 1, method: 'tools/list' },
        { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'second', arguments: { n: 2 } } },
      ]),
    );
    expect(toolArgumentsOf(batch, true, 'digest')).toEqual({ record: { digest: sha128('{"n":2}'), of: 'arguments' }, tool: 'second' });
  });

  it('digests the raw bytes when the body is not a readable tools/call: cut off (truncated), not JSON, too deep', () => {
    const start = call({ q: 'x' }).subarray(0, 20);
    expect(toolArgumentsOf(start, false, 'values')).toEqual({ record: { digest: sha128(start), of: 'body', truncated: true }, tool: null });
    const garbage = Buffer.from('{"method":"tools/call", nope');
    expect(toolArgumentsOf(garbage, true, 'values').record).toEqual({ digest: sha128(garbage), of: 'body' });
    const deep = Buffer.from(`{"method":"tools/call","params":{"name":"t","arguments":{"a":${'['.repeat(100)}${']'.repeat(100)}}}}`);
    expect(toolArgumentsOf(deep, true, 'values').record).toEqual({ digest: sha128(deep), of: 'body' });
  });

  it('values mode: the canonical values with secret-looking members redacted at any depth; the digest is of the unredacted arguments', () => {
    const args = { query: 'cats', apiKey: 'sk-live-1', nested: { password: 'hunter2', list: [{ access_token: 'tok', keep: 1 }] }, author: 'ann' };
    const { record } = toolArgumentsOf(call(args), true, 'values');
    expect(record.digest).toBe(sha128(canonicalJson(args)));
    expect(JSON.parse(record.values!)).toEqual({ query: 'cats', apiKey: REDACTED, nested: { password: REDACTED, list: [{ access_token: REDACTED, keep: 1 }] }, author: 'ann' });
    for (const secret of ['sk-live-1', 'hunter2', '"tok"']) expect(record.values).not.toContain(secret);
    expect(record.valuesTruncated).toBeUndefined();
  });

  it(`values mode: at most ${MAX_VALUES_CHARS} characters, marked truncated`, () => {
    const { record } = toolArgumentsOf(call({ text: 'x'.repeat(10_000) }), true, 'values');
    expect(record.values).toHaveLength(MAX_VALUES_CHARS);
    expect(record.valuesTruncated).toBe(true);
  });

  it(`bounds tool names to ${MAX_TOOL_NAME} characters`, () => {
    expect(boundedToolName('t'.repeat(1000))).toHaveLength(MAX_TOOL_NAME);
    const body = Buffer.from(JSON.stringify({ method: 'tools/call', params: { name: 'n'.repeat(500), arguments: {} } }));
    expect(toolArgumentsOf(body, true, 'digest').tool).toHaveLength(MAX_TOOL_NAME);
  });
});

describe('capturedBody (a body the scope check read whole)', () => {
  it('gives the same digest as the streamed capture would, and cuts a long body at the cap', () => {
    expect(toolCallAudit(capturedBody(call({ q: 1 }))).toolArguments).toEqual({ digest: sha128('{"q":1}'), of: 'arguments' });
    const big = call({ blob: 'b'.repeat(MAX_CAPTURED_BODY) });
    expect(toolCallAudit(capturedBody(big)).toolArguments).toEqual({ digest: sha128(big.subarray(0, MAX_CAPTURED_BODY)), of: 'body', truncated: true });
  });

  it("keeps a copy of a long body's first bytes, not a view that would hold the whole body until the exchange ends", () => {
    const big = Buffer.alloc(4 * 1024 * 1024, 'a');
    const { bytes, complete } = capturedBody(big).take();
    expect(complete).toBe(false);
    expect(bytes.length).toBe(MAX_CAPTURED_BODY);
    expect(bytes.buffer.byteLength).toBeLessThan(big.length);
  });
});

/**
 * The streamed capture on a real loopback HTTP exchange: the client writes its body in pieces, the
 * server sniffs as the proxy does and pipes the body on (as http-proxy would) while the capture
 * keeps what passes.
 */
describe('sniffMcpMethod body capture (unrestricted tokens)', () => {
  let server: http.Server;
  let port: number;
  let seen: Promise<{ method: string | null; tool: string | null; capture: BodyCapture | null; piped: Buffer }>;
  let onRequest: (v: Awaited<typeof seen>) => void;

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      let method: string | null = null;
      let tool: string | null = null;
      let capture: BodyCapture | null = null;
      sniffMcpMethod(req, (m, _id, t, c) => {
        method = m;
        tool = t;
        capture = c;
      });
      const piped: Buffer[] = [];
      req.on('data', (chunk: Buffer) => piped.push(chunk));
      req.on('end', () => {
        res.end('{}');
        onRequest({ method, tool, capture, piped: Buffer.concat(piped) });
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  async function send(pieces: Buffer[]): Promise<Awaited<typeof seen>> {
    seen = new Promise((resolve) => (onRequest = resolve));
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/', headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' } });
    const response = new Promise<void>((resolve, reject) => {
      req.on('response', (res) => {
        res.resume();
        res.on('end', resolve);
      });
      req.on('error', reject);
    });
    for (const piece of pieces) {
      req.write(piece);
      // A pause between pieces, so that they arrive as chunks of their own.
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    req.end();
    await response;
    return seen;
  }

  it('captures a tools/call body sent in several chunks and digests its arguments, the piped body intact', async () => {
    const body = call({ q: 'a'.repeat(3000), n: 1 });
    const got = await send([body.subarray(0, 100), body.subarray(100, 2000), body.subarray(2000)]);
    expect(got.method).toBe('tools/call');
    expect(got.tool).toBe('search');
    expect(got.piped.equals(body)).toBe(true);
    expect(toolCallAudit(got.capture!).toolArguments).toEqual({ digest: sha128(canonicalJson({ q: 'a'.repeat(3000), n: 1 })), of: 'arguments' });
  });

  it('learns the tool name from the whole body when the first chunk does not name it', async () => {
    const body = Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { arguments: { pad: 'p'.repeat(5000) }, name: 'late_name' } }));
    const got = await send([body.subarray(0, 60), body.subarray(60)]);
    expect(got.tool).toBeNull();
    expect(toolCallAudit(got.capture!).tool).toBe('late_name');
  });

  it(`stops capturing at ${MAX_CAPTURED_BODY} bytes: a truncated digest of the bytes seen, the body still piped whole`, async () => {
    const body = call({ blob: 'z'.repeat(3 * MAX_CAPTURED_BODY) });
    const got = await send([body.subarray(0, 1000), body.subarray(1000, 2 * MAX_CAPTURED_BODY), body.subarray(2 * MAX_CAPTURED_BODY)]);
    expect(got.piped.length).toBe(body.length);
    expect(toolCallAudit(got.capture!).toolArguments).toEqual({ digest: sha128(body.subarray(0, MAX_CAPTURED_BODY)), of: 'body', truncated: true });
  });

  it('captures nothing for other methods (the fast path)', async () => {
    const got = await send([Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }))]);
    expect(got.method).toBe('tools/list');
    expect(got.capture).toBeNull();
  });
});
