import type { IncomingHttpHeaders, OutgoingHttpHeader } from 'node:http';
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
