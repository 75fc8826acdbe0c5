import { GateRefusal } from '../../server/src/proxy/gate-refusal';
import { checkMirroredHeaders, decodeSentinel, JsonRpcMessage } from '../../server/src/proxy/scope-gate';

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

describe('checkMirroredHeaders (2026-07-28 Streamable HTTP, Server Validation)', () => {
  const call = (name: unknown, id: unknown = 1): JsonRpcMessage => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name } });
  const read = (uri: unknown): JsonRpcMessage => ({ jsonrpc: '2.0', id: 'r', method: 'resources/read', params: { uri } });

  it('accepts no headers at all (clients of older protocol versions send none)', () => {
    expect(refusal(() => checkMirroredHeaders({}, [call('echo')]))).toBeUndefined();
    expect(refusal(() => checkMirroredHeaders({}, [call('echo'), call('whoami')]))).toBeUndefined();
    expect(refusal(() => checkMirroredHeaders({}, null))).toBeUndefined();
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

  it.each<[string, Record<string, string | string[]>, JsonRpcMessage[] | null]>([
    ['a method in another case', { 'mcp-method': 'Tools/Call' }, [call('echo')]],
    ['a repeated header', { 'mcp-method': ['tools/call', 'tools/call'] }, [call('echo')]],
    ['a body that is not JSON', { 'mcp-method': 'tools/list' }, null],
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
