import type { IncomingHttpHeaders, OutgoingHttpHeader } from 'node:http';
import { unsendableHeader } from '../../server/src/proxy/header-values';
import { connectionOptions, copyResponseHeaders, stripHopByHop } from '../../server/src/proxy/hop-by-hop';

describe('hop-by-hop headers (RFC 9110 §7.6.1)', () => {
  it('reads the header names a Connection header lists, ignoring keep-alive and close', () => {
    expect(connectionOptions(undefined)).toEqual([]);
    expect(connectionOptions('keep-alive')).toEqual([]);
    expect(connectionOptions('close')).toEqual([]);
    expect(connectionOptions('Keep-Alive, X-Secret ,  ,x-other')).toEqual(['x-secret', 'x-other']);
    expect(connectionOptions(['close, X-A', 'X-B'])).toEqual(['x-a', 'x-b']);
  });

  it('strips from a request Connection, what it names, and every fixed hop-by-hop header; keeps the rest', () => {
    const headers: IncomingHttpHeaders = {
      connection: 'keep-alive, X-Client-Secret, Mcp-Session-Id',
      'x-client-secret': '1',
      'mcp-session-id': 'abc',
      'keep-alive': 'timeout=9',
      'proxy-connection': 'keep-alive',
      'proxy-authorization': 'Basic eDp5',
      te: 'trailers',
      trailer: 'x-checksum',
      upgrade: 'h2c',
      'transfer-encoding': 'chunked',
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
    };
    stripHopByHop(headers);
    // Transfer-Encoding stays: node frames the piped body by it and never forwards it verbatim.
    expect(headers).toEqual({ 'transfer-encoding': 'chunked', 'content-type': 'application/json', accept: 'application/json, text/event-stream' });
  });

  it('copies only end-to-end response headers, minus the extra drop list', () => {
    const copied: Record<string, OutgoingHttpHeader> = {};
    copyResponseHeaders(
      {
        connection: 'X-Secret',
        'x-secret': '1',
        'keep-alive': 'timeout=7',
        'proxy-authenticate': 'Basic realm="up"',
        'proxy-connection': 'keep-alive',
        trailer: 'x-checksum',
        te: 'trailers',
        upgrade: 'h2c',
        'transfer-encoding': 'chunked',
        'set-cookie': ['a=1'],
        'content-type': 'text/event-stream',
        'mcp-session-id': 's1',
      },
      { setHeader: (name: string, value: OutgoingHttpHeader) => (copied[name] = value) },
      new Set(['set-cookie']),
    );
    expect(copied).toEqual({ 'content-type': 'text/event-stream', 'mcp-session-id': 's1' });
  });
});

describe('unsendableHeader (RFC 9110 §5.5)', () => {
  it('names the first header node cannot write, and accepts visible ASCII, tabs and Latin-1', () => {
    expect(unsendableHeader({ 'x-api-key': 'Key abc\tdef', 'x-team': 'caf\u00e9', 'set-cookie': ['a', 'b'] })).toBeNull();
    expect(unsendableHeader({ accept: 'x', 'x-api-key': 'bad\x01key' })).toBe('x-api-key');
    expect(unsendableHeader({ 'x-api-key': 'price-\u20ac' })).toBe('x-api-key');
    expect(unsendableHeader({ 'set-cookie': ['ok', 'no\nline'] })).toBe('set-cookie');
    expect(unsendableHeader({ 'bad name': 'v' })).toBe('bad name');
  });
});
