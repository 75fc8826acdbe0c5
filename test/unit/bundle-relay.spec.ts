import { withCallerId } from '../../server/src/bundle/bundle-relay';

describe('bundle relay: the caller id put back in the upstream answer', () => {
  const relayId = JSON.stringify('gatehouse-ab12-7');

  it('replaces the id where the SDK writes it, last, without touching the result', () => {
    const data = '{"result":{"content":[{"type":"text","text":"hi"}]},"jsonrpc":"2.0","id":"gatehouse-ab12-7"}';
    expect(withCallerId(data, relayId, '7')).toBe('{"result":{"content":[{"type":"text","text":"hi"}]},"jsonrpc":"2.0","id":7}');
  });

  it('replaces an id written first, and one anywhere else by parsing', () => {
    expect(withCallerId('{"jsonrpc":"2.0","id":"gatehouse-ab12-7","result":{}}', relayId, '"c"')).toBe('{"jsonrpc":"2.0","id":"c","result":{}}');
    expect(JSON.parse(withCallerId('{"jsonrpc":"2.0","error":{"code":1,"message":"m"},"id":"gatehouse-ab12-7" }', relayId, '3')!)).toEqual({
      jsonrpc: '2.0',
      error: { code: 1, message: 'm' },
      id: 3,
    });
    expect(JSON.parse(withCallerId('{ "id" : "gatehouse-ab12-7", "jsonrpc":"2.0", "result":{"id":"x"} }', relayId, '3')!)).toEqual({ id: 3, jsonrpc: '2.0', result: { id: 'x' } });
  });

  it('leaves alone an id of the same text that is not the top-level one', () => {
    // Nested (the last brace is not the object's own), or in a key with an escaped quote.
    expect(withCallerId('{"jsonrpc":"2.0","method":"notifications/message","params":{"id":"gatehouse-ab12-7"}}', relayId, '7')).toBeNull();
    expect(withCallerId('{"jsonrpc":"2.0","id":"other","result":{"x\\"id":"gatehouse-ab12-7"}}', relayId, '7')).toBeNull();
    expect(withCallerId('{"jsonrpc":"2.0","result":{},"x\\"id":"gatehouse-ab12-7"}', relayId, '7')).toBeNull();
  });

  it('answers null for a notification, another id, or what is not JSON', () => {
    expect(withCallerId('{"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}', relayId, '7')).toBeNull();
    expect(withCallerId('{"jsonrpc":"2.0","id":"gatehouse-ab12-8","result":{}}', relayId, '7')).toBeNull();
    expect(withCallerId('not json', relayId, '7')).toBeNull();
  });
});
