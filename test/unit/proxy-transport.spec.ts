import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingHttpHeaders, OutgoingHttpHeader } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HostPolicy } from '../../server/src/common/allowed-hosts';
import { CorsPolicy } from '../../server/src/common/cors';
import { ConfigError, loadConfig } from '../../server/src/config/config.loader';
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

describe('HostPolicy (DNS-rebinding protection by Host)', () => {
  const policy = new HostPolicy('https://gw.example.com', ['gatehouse', '.internal.example', 'Upper.Example.']);

  it.each([
    'gw.example.com',
    'GW.Example.com:443',
    'gw.example.com.',
    '127.0.0.1:8080',
    '10.1.2.3',
    '[::1]:8080',
    '[2001:db8::1]',
    'localhost:8080',
    'mcp.localhost',
    'gatehouse:8080',
    'internal.example',
    'a.b.internal.example',
    'upper.example',
    undefined,
  ])('allows %s', (host) => expect(policy.allows(host)).toBe(true));

  it.each([
    'evil.example.com',
    'gw.example.com.evil.example',
    'localhost.evil.example',
    'notinternal.example',
    'gatehouse.evil.example',
    'gw.example.com@evil.example',
    'evil.example#gw.example.com',
    'evil.example/gw.example.com',
    'gw.example.com:99999',
    'gw example.com',
  ])('refuses %s', (host) => expect(policy.allows(host)).toBe(false));

  it('names the host clients should use', () => {
    expect(new HostPolicy('http://127.0.0.1:8080').expectedHost).toBe('127.0.0.1:8080');
  });
});

describe('CorsPolicy', () => {
  it("always allows the gateway's own origin, besides the configured ones", () => {
    const cors = new CorsPolicy(['https://claude.ai/'], 'https://gw.example.com');
    expect(cors.allows('https://gw.example.com')).toBe(true);
    expect(cors.allows('https://claude.ai')).toBe(true);
    expect(cors.allows('http://gw.example.com')).toBe(false);
    expect(cors.allows('https://evil.example')).toBe(false);
  });
});

describe('server.allowed_hosts', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'gatehouse-cfg-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const load = (yaml: string) => {
    writeFileSync(join(dir, 'config.yaml'), yaml);
    return loadConfig({ GATEHOUSE_CONFIG: join(dir, 'config.yaml') });
  };

  it('defaults to none and accepts names and .domains', () => {
    expect(load('upstreams: []').server.allowed_hosts).toEqual([]);
    expect(load('server:\n  allowed_hosts: [gatehouse, .example.com, my_gw]').server.allowed_hosts).toEqual(['gatehouse', '.example.com', 'my_gw']);
  });

  it.each(['https://gw.example.com', 'gw.example.com:8080', '*.example.com', 'a b'])('refuses %s', (entry) => {
    expect(() => load(`server:\n  allowed_hosts: [${JSON.stringify(entry)}]`)).toThrow(ConfigError);
    try {
      load(`server:\n  allowed_hosts: [${JSON.stringify(entry)}]`);
    } catch (err) {
      expect((err as ConfigError).key).toBe('server.allowed_hosts');
    }
  });
});
