import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { decodeContentCoding } from '../../server/src/proxy/content-coding';
import { GateRefusal } from '../../server/src/proxy/gate-refusal';
import { hasDuplicateKey } from '../../server/src/proxy/json-duplicate-keys';
import { checkMirroredHeaders, decodeSentinel, gateRequestBody, JsonRpcMessage, parseJsonRpc, stripUtf8Bom } from '../../server/src/proxy/scope-gate';

/** The refusal a function throws, or undefined when it throws nothing. */
function refusal(fn: () => unknown): GateRefusal | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof GateRefusal) return err;
    throw err;
  }
  return undefined;
}

/** The refusal a promise rejects with, or undefined when it resolves. */
async function refusalOf(promise: Promise<unknown>): Promise<GateRefusal | undefined> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof GateRefusal) return err;
    throw err;
  }
  return undefined;
}

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
const json = (value: unknown) => Buffer.from(JSON.stringify(value));
const toolsCall = { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { text: 'x' } } };

describe('checkMirroredHeaders (2026-07-28 Streamable HTTP, Server Validation)', () => {
  const call = (name: unknown, id: unknown = 1): JsonRpcMessage => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name } });
  const read = (uri: unknown): JsonRpcMessage => ({ jsonrpc: '2.0', id: 'r', method: 'resources/read', params: { uri } });

  it('accepts no headers at all (clients of older protocol versions send none)', () => {
    expect(refusal(() => checkMirroredHeaders({}, [call('echo')]))).toBeUndefined();
    expect(refusal(() => checkMirroredHeaders({}, [call('echo'), call('whoami')]))).toBeUndefined();
  });

  it('accepts headers that mirror the body', () => {
    expect(refusal(() => checkMirroredHeaders({ 'mcp-method': 'tools/call', 'mcp-name': 'echo' }, [call('echo')]))).toBeUndefined();
    expect(refusal(() => checkMirroredHeaders({ 'mcp-method': 'resources/read', 'mcp-name': 'file:///a b' }, [read('file:///a b')]))).toBeUndefined();
    expect(refusal(() => checkMirroredHeaders({ 'mcp-method': 'notifications/initialized' }, [{ jsonrpc: '2.0', method: 'notifications/initialized' }]))).toBeUndefined();
    // Mcp-Name is defined for tools/call, resources/read and prompts/get only.
    expect(refusal(() => checkMirroredHeaders({ 'mcp-method': 'initialize', 'mcp-name': 'none' }, [{ jsonrpc: '2.0', id: 1, method: 'initialize' }]))).toBeUndefined();
  });

  it('refuses an Mcp-Method that differs from the body method, with 400 HeaderMismatch and the body id', () => {
    const err = refusal(() => checkMirroredHeaders({ 'mcp-method': 'tools/list' }, [call('echo', 42)]));
    expect(err).toMatchObject({ status: 400, code: -32020, rpcId: 42, message: 'Header mismatch: Mcp-Method header does not match the body' });
  });

  it.each<[string, Record<string, string | string[]>, JsonRpcMessage[]]>([
    ['a method in another case', { 'mcp-method': 'Tools/Call' }, [call('echo')]],
    ['a repeated header', { 'mcp-method': ['tools/call', 'tools/call'] }, [call('echo')]],
    ['a response body', { 'mcp-method': 'tools/list' }, [{ jsonrpc: '2.0', id: 1, result: {} }]],
    ['a batch', { 'mcp-method': 'tools/call' }, [call('echo'), call('echo')]],
    ['Mcp-Name next to a batch', { 'mcp-name': 'echo' }, [call('echo'), call('echo')]],
    ['another tool name', { 'mcp-method': 'tools/call', 'mcp-name': 'whoami' }, [call('echo')]],
    ['a name where the body has none', { 'mcp-name': 'echo' }, [call(undefined)]],
    ['a name where the body has a number', { 'mcp-name': '1' }, [call(1)]],
    ['another resource uri', { 'mcp-name': 'file:///a' }, [read('file:///b')]],
    ['another prompt name', { 'mcp-name': 'a' }, [{ jsonrpc: '2.0', id: 1, method: 'prompts/get', params: { name: 'b' } }]],
  ])('refuses %s', (_name, headers, messages) => {
    expect(refusal(() => checkMirroredHeaders(headers, messages))).toMatchObject({ status: 400, code: -32020 });
  });
});

describe('decodeSentinel', () => {
  it('decodes the =?base64?…?= form and leaves anything else as it is', () => {
    expect(decodeSentinel(`=?base64?${Buffer.from('Hello, 世界').toString('base64')}?=`)).toBe('Hello, 世界');
    expect(decodeSentinel('echo')).toBe('echo');
    expect(decodeSentinel('=?BASE64?ZWNobw==?=')).toBe('=?BASE64?ZWNobw==?='); // the markers are case-sensitive
    expect(decodeSentinel('=?base64?not base64?=')).toBe('=?base64?not base64?=');
  });
});

describe('stripUtf8Bom', () => {
  it('drops one leading UTF-8 BOM and nothing else', () => {
    expect(stripUtf8Bom(Buffer.concat([BOM, json(toolsCall)]))).toEqual(json(toolsCall));
    expect(stripUtf8Bom(json(toolsCall))).toEqual(json(toolsCall));
    expect(stripUtf8Bom(Buffer.concat([BOM, BOM, Buffer.from('{}')]))).toEqual(Buffer.concat([BOM, Buffer.from('{}')]));
    expect(stripUtf8Bom(Buffer.from([0xef, 0xbb]))).toEqual(Buffer.from([0xef, 0xbb]));
  });
});

describe('decodeContentCoding', () => {
  const body = json(toolsCall);
  const cap = 1024 * 1024;

  it.each([
    ['gzip', zlib.gzipSync],
    ['x-gzip', zlib.gzipSync],
    ['deflate', zlib.deflateSync],
    ['br', zlib.brotliCompressSync],
    ['GZip', zlib.gzipSync],
  ])('undoes %s', async (coding, encode) => {
    expect(await decodeContentCoding(encode(body), coding, cap)).toEqual(body);
  });

  it('leaves identity and absent codings alone, and undoes stacked codings in reverse order (RFC 9110 §8.4)', async () => {
    expect(await decodeContentCoding(body, undefined, cap)).toBe(body);
    expect(await decodeContentCoding(body, 'identity', cap)).toBe(body);
    expect(await decodeContentCoding(zlib.brotliCompressSync(zlib.gzipSync(body)), 'gzip, br', cap)).toEqual(body);
  });

  it('refuses a body larger than the cap once decoded with 413, however small it is encoded', async () => {
    const bomb = zlib.gzipSync(Buffer.alloc(cap + 1, 0x20));
    expect(bomb.length).toBeLessThan(cap / 100);
    expect(await refusalOf(decodeContentCoding(bomb, 'gzip', cap))).toMatchObject({ status: 413, code: -32600 });
    expect(await refusalOf(decodeContentCoding(zlib.brotliCompressSync(Buffer.alloc(cap + 1)), 'br', cap))).toMatchObject({ status: 413 });
    expect(await decodeContentCoding(zlib.gzipSync(Buffer.alloc(cap, 0x20)), 'gzip', cap)).toHaveLength(cap);
  });

  it.each(['compress', 'zstd', 'gzip, gzip, gzip', 'gzip;q=1'])('refuses the coding "%s" with 415 and Accept-Encoding', async (coding) => {
    expect(await refusalOf(decodeContentCoding(body, coding, cap))).toMatchObject({ status: 415, headers: { 'Accept-Encoding': 'gzip, deflate, br' } });
  });

  it('refuses a body that is not the coding it claims with 400', async () => {
    expect(await refusalOf(decodeContentCoding(body, 'gzip', cap))).toMatchObject({ status: 400, code: -32700 });
    expect(await refusalOf(decodeContentCoding(Buffer.alloc(0), 'deflate', cap))).toMatchObject({ status: 400 });
  });
});

describe('parseJsonRpc', () => {
  it('returns a message, or the messages of a batch', () => {
    expect(parseJsonRpc(json(toolsCall))).toEqual([toolsCall]);
    const batch = [
      toolsCall,
      { jsonrpc: '2.0', method: 'notifications/initialized' },
      { jsonrpc: '2.0', id: 'a', result: {} },
      { jsonrpc: '2.0', id: null, error: { code: 1, message: 'x' } },
    ];
    expect(parseJsonRpc(json(batch))).toEqual(batch);
  });

  it.each<[string, Buffer]>([
    ['an empty body', Buffer.alloc(0)],
    ['text', Buffer.from('tools/call')],
    ['truncated JSON', Buffer.from('{"jsonrpc":"2.0","method":"tools/call"')],
    ['a BOM (the gate strips it first)', Buffer.concat([BOM, json(toolsCall)])],
    ['UTF-16', Buffer.from(JSON.stringify(toolsCall), 'utf16le')],
    ['invalid UTF-8', Buffer.concat([Buffer.from('{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"x":"'), Buffer.from([0xff]), Buffer.from('"}}')])],
  ])('refuses %s with -32700', (_name, body) => {
    expect(refusal(() => parseJsonRpc(body))).toMatchObject({ status: 400, code: -32700 });
  });

  it.each<[string, unknown]>([
    ['an empty batch', []],
    ['a number', 1],
    ['null', null],
    ['a string', 'tools/call'],
    ['no jsonrpc member', { id: 1, method: 'tools/call' }],
    ['jsonrpc 1.0', { jsonrpc: '1.0', id: 1, method: 'tools/call' }],
    ['a method that is not a string', { jsonrpc: '2.0', id: 1, method: ['tools/call'] }],
    ['params that are a string', { jsonrpc: '2.0', id: 1, method: 'tools/list', params: 'x' }],
    ['an object id', { jsonrpc: '2.0', id: {}, method: 'tools/list' }],
    ['neither method nor result', { jsonrpc: '2.0', id: 1 }],
    ['both result and error', { jsonrpc: '2.0', id: 1, result: {}, error: {} }],
    ['a batch with one bad element', [{ jsonrpc: '2.0', id: 1, method: 'tools/list' }, 'tools/call']],
    ['a nested batch', [[toolsCall]]],
  ])('refuses %s with -32600', (_name, value) => {
    expect(refusal(() => parseJsonRpc(json(value)))).toMatchObject({ status: 400, code: -32600 });
  });

  it('refuses a body that names a member twice, which parsers read differently', () => {
    const twice = Buffer.from('{"jsonrpc":"2.0","id":1,"method":"tools/call","method":"tools/list"}');
    expect(refusal(() => parseJsonRpc(twice))).toMatchObject({ status: 400, code: -32600, message: 'request body repeats a member name' });
  });
});

describe('hasDuplicateKey', () => {
  it.each([String.raw`{"a":1,"a":2}`, String.raw`{"method":"x", "meth\u006fd" : "y"}`, String.raw`[{"a":1},{"b":{"c":1,"c":2}}]`, String.raw`{"a":{"b":1},"a":[]}`])(
    'finds the repeated name in %s',
    (text) => {
      JSON.parse(text); // the scan expects JSON that JSON.parse accepted
      expect(hasDuplicateKey(text)).toBe(true);
    },
  );

  it.each([
    String.raw`{"a":1,"b":{"a":1}}`,
    String.raw`[{"a":1},{"a":1}]`,
    String.raw`{"a":"a","b":"a:"}`,
    String.raw`{"a":"\":\"","b":["a","a"]}`,
    String.raw`{"k\\":1,"k":2}`,
    String.raw`"a"`,
    '{}',
  ])('finds none in %s', (text) => {
    JSON.parse(text);
    expect(hasDuplicateKey(text)).toBe(false);
  });
});

describe('gateRequestBody', () => {
  /** A request as node:http hands it over, from a stream of the given bytes. */
  const request = (method: string, headers: Record<string, string>, body?: Buffer) =>
    Object.assign(Readable.from(body ? [body] : []), { method, headers }) as unknown as IncomingMessage;

  it('returns the decoded, BOM-stripped bytes to forward and the methods to decide on', async () => {
    const sent = zlib.gzipSync(Buffer.concat([BOM, json([toolsCall, { jsonrpc: '2.0', id: 2, method: 'tools/list' }])]));
    const gated = await gateRequestBody(request('POST', { 'content-encoding': 'gzip' }, sent), 1 << 20);
    expect(gated).toEqual({
      body: json([toolsCall, { jsonrpc: '2.0', id: 2, method: 'tools/list' }]),
      methods: ['tools/call', 'tools/list'],
      rpcId: 1,
      messages: [toolsCall, { jsonrpc: '2.0', id: 2, method: 'tools/list' }],
    });
  });

  it('refuses a body over the limit before decoding with 413', async () => {
    expect(await refusalOf(gateRequestBody(request('POST', {}, Buffer.alloc(2048, 0x20)), 1024))).toMatchObject({ status: 413 });
  });

  it('has nothing to decide on for a GET without a body, and refuses one with a body', async () => {
    expect(await gateRequestBody(request('GET', {}), 1024)).toBeNull();
    expect(await gateRequestBody(request('DELETE', { 'content-length': '0' }), 1024)).toBeNull();
    expect(await refusalOf(gateRequestBody(request('GET', { 'content-length': '10' }, json(toolsCall)), 1024))).toMatchObject({ status: 400, code: -32600 });
    expect(await refusalOf(gateRequestBody(request('DELETE', { 'transfer-encoding': 'chunked' }, json(toolsCall)), 1024))).toMatchObject({ status: 400 });
  });
});
