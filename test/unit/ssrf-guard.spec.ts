import dns from 'node:dns';
import http from 'node:http';
import net, { AddressInfo } from 'node:net';
import {
  createGuardedAgent,
  guardedLookup,
  isPublicAddress,
  literalHostRefusal,
  nonPublicReason,
  OutboundAddressRefused,
  outboundRequest,
  OutboundRequestError,
} from '../../server/src/common/ssrf';
import { Upstream } from '../../server/src/upstreams/upstream';
import { AuthServerDiscovery } from '../../server/src/upstreams/upstream-oauth/auth-server-discovery';
import { requestTokens } from '../../server/src/upstreams/upstream-oauth/upstream-token-endpoint';
import { startOAuthUpstream } from '../fixtures/upstream-oauth-server';

/** A loopback TCP server that counts connections: proof that a refused request never connected. */
async function countingServer(handler?: http.RequestListener) {
  let connections = 0;
  const server = handler ? http.createServer(handler) : net.createServer((s) => s.destroy());
  server.on('connection', () => connections++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    origin: `http://127.0.0.1:${port}`,
    connections: () => connections,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

function upstreamFor(url: string, oauth: Partial<NonNullable<Upstream['oauth']>> = {}): Upstream {
  return {
    slug: 'o',
    name: 'Upstream o',
    url,
    transport: 'http',
    process: null,
    enabled: true,
    timeoutMs: 30_000,
    scopes: ['mcp:tools'],
    authMode: 'oauth',
    headerNames: [],
    headerTemplates: {},
    credentialFields: [],
    oauth: { clientId: null, hasClientSecret: false, issuer: null, authorizationEndpoint: null, tokenEndpoint: null, registrationEndpoint: null, scopes: [], ...oauth },
    allow: { users: [], emails: [], emailDomains: [], groups: [] },
    resource: 'http://gateway.invalid/mcp/o',
    source: 'config',
    guarded: false,
  };
}

const GUARDED = { timeoutMs: 5000, maxBytes: 10_000, allowPrivateNetworks: false } as const;

describe('SSRF guard: address classification (no traffic)', () => {
  // Teredo (RFC 4380 §4): 2001:0:<server IPv4>:<flags>:<port ^ ffff>:<client IPv4 ^ ffffffff>.
  const teredo = (server: string, client: string) => {
    const s = server.split('.').map(Number);
    const c = client.split('.').map((o) => 255 - Number(o));
    const hex = (a: number, b: number) => ((a << 8) | b).toString(16);
    return `2001:0:${hex(s[0], s[1])}:${hex(s[2], s[3])}:8000:63bf:${hex(c[0], c[1])}:${hex(c[2], c[3])}`;
  };

  it.each([
    // IPv4
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['10.0.0.1', 'private'],
    ['172.16.0.1', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'linkLocal'],
    ['100.64.0.1', 'carrierGradeNat'],
    ['0.0.0.0', 'unspecified'],
    ['255.255.255.255', 'broadcast'],
    ['224.0.0.1', 'multicast'],
    ['192.0.2.1', 'reserved'],
    ['198.18.0.1', 'reserved'],
    ['240.0.0.1', 'reserved'],
    // IPv6
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['fe80::1', 'linkLocal'],
    ['fc00::1', 'uniqueLocal'],
    ['fd12:3456::1', 'uniqueLocal'],
    ['ff02::1', 'multicast'],
    ['fec0::1', 'deprecatedSiteLocal'],
    ['2001:db8::1', 'reserved'],
    ['100::1', 'discard'],
    ['::7f00:1', 'outside global unicast'], // IPv4-compatible (deprecated)
    ['::127.0.0.1', 'loopback'],
    ['4000::1', 'outside global unicast'],
    // IPv4-mapped, every spelling
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['0:0:0:0:0:ffff:7f00:0001', 'loopback'],
    ['::FFFF:7F00:1', 'loopback'],
    ['::ffff:0.0.0.0', 'unspecified'],
    ['::ffff:0:0', 'unspecified'],
    ['::ffff:10.1.2.3', 'private'],
    ['::ffff:a9fe:a9fe', 'linkLocal'],
    ['::ffff:192.168.0.1', 'private'],
    // IPv4-translated (RFC 6145)
    ['::ffff:0:127.0.0.1', 'loopback'],
    // NAT64 (RFC 6052 well-known prefix; RFC 8215 local-use prefix)
    ['64:ff9b::127.0.0.1', 'loopback'],
    ['64:ff9b::7f00:1', 'loopback'],
    ['64:ff9b::a9fe:a9fe', 'linkLocal'],
    ['64:ff9b::10.0.0.1', 'private'],
    ['64:ff9b:1::7f00:1', 'rfc6052'], // local use: where the IPv4 sits is the operator's choice
    ['64:ff9b:1::8.8.8.8', 'rfc6052'],
    // 6to4 (RFC 3056)
    ['2002:7f00:1::', 'loopback'],
    ['2002:a9fe:a9fe::1', 'linkLocal'],
    ['2002:c0a8:101::1', 'private'],
    // Teredo: a private client, a private server
    [teredo('65.54.227.120', '127.0.0.1'), 'loopback'],
    [teredo('65.54.227.120', '192.168.1.1'), 'private'],
    [teredo('10.0.0.1', '8.8.4.4'), 'private'],
    // Not addresses at all
    ['localhost', 'not an IP address'],
    ['', 'not an IP address'],
  ])('%s is refused (%s)', (address, why) => {
    expect(nonPublicReason(address)).toContain(why);
    expect(isPublicAddress(address)).toBe(false);
  });

  it.each([
    '8.8.8.8',
    '1.1.1.1',
    '93.184.215.14',
    '2606:4700:4700::1111',
    '2a00:1450:4001:80b::200e',
    '::ffff:8.8.8.8',
    '64:ff9b::8.8.8.8',
    '2002:808:808::1',
    teredo('65.54.227.120', '8.8.4.4'),
  ])('%s is public', (address) => {
    expect(nonPublicReason(address)).toBeNull();
  });

  it('checks IP literals as net.connect gets them (brackets or not) and leaves names to the lookup', () => {
    expect(literalHostRefusal('[::ffff:7f00:1]')).toContain('loopback');
    expect(literalHostRefusal('::ffff:7f00:1')).toContain('loopback');
    expect(literalHostRefusal('169.254.169.254')).toContain('linkLocal');
    expect(literalHostRefusal('8.8.8.8')).toBeNull();
    expect(literalHostRefusal('example.com')).toBeNull();
  });

  describe('guardedLookup (the resolver is stubbed: nothing leaves the machine)', () => {
    let lookup: jest.SpyInstance;
    afterEach(() => lookup.mockRestore());
    const answer = (...addresses: string[]) => {
      lookup = jest.spyOn(dns, 'lookup').mockImplementation(((_host: string, _opts: unknown, cb: (err: Error | null, addresses?: dns.LookupAddress[]) => void) =>
        cb(
          null,
          addresses.map((address) => ({ address, family: net.isIP(address) })),
        )) as any);
    };
    const resolve = (all: boolean) => new Promise<{ err: Error | null; address: unknown }>((r) => guardedLookup('host.test', { all }, (err, address) => r({ err, address })));

    it.each([['169.254.169.254'], ['10.0.0.7'], ['::ffff:127.0.0.1'], ['fd00::1']])('refuses a name that resolves to %s', async (address) => {
      answer(address);
      const { err } = await resolve(true);
      expect(err).toBeInstanceOf(OutboundAddressRefused);
      expect(err!.message).toContain(address);
    });

    it('refuses a name when any one of its addresses is private (the connection could pick it)', async () => {
      answer('8.8.8.8', '127.0.0.1');
      expect((await resolve(true)).err).toBeInstanceOf(OutboundAddressRefused);
    });

    it('passes public answers through, in either callback form', async () => {
      answer('8.8.8.8', '2606:4700:4700::1111');
      expect(await resolve(true)).toEqual({
        err: null,
        address: [
          { address: '8.8.8.8', family: 4 },
          { address: '2606:4700:4700::1111', family: 6 },
        ],
      });
      expect(await resolve(false)).toEqual({ err: null, address: '8.8.8.8' });
    });
  });
});

describe('SSRF guard: outbound requests to loopback spellings never connect', () => {
  let target: Awaited<ReturnType<typeof countingServer>>;
  beforeEach(async () => {
    target = await countingServer((_req, res) => res.end('{"secret":"internal"}'));
  });
  afterEach(() => target.close());

  it.each([
    ['IPv4-mapped, dotted', (p: number) => `http://[::ffff:127.0.0.1]:${p}/x`],
    ['IPv4-mapped, hex', (p: number) => `http://[::ffff:7f00:1]:${p}/x`],
    ['IPv4-mapped, unspecified', (p: number) => `http://[::ffff:0.0.0.0]:${p}/x`],
    ['IPv4-mapped over https', (p: number) => `https://[::ffff:127.0.0.1]:${p}/x`],
    ['plain loopback', (p: number) => `http://127.0.0.1:${p}/x`],
    ['short form', (p: number) => `http://127.1:${p}/x`],
    ['hex form', (p: number) => `http://0x7f.1:${p}/x`],
    ['decimal form', (p: number) => `http://2130706433:${p}/x`],
    ['unspecified', (p: number) => `http://0.0.0.0:${p}/x`],
    ['IPv6 loopback', (p: number) => `http://[::1]:${p}/x`],
    ['a name for loopback', (p: number) => `http://localhost:${p}/x`],
  ])('%s', async (_name, url) => {
    const err = await outboundRequest(url(target.port), GUARDED).catch((e) => e);
    expect(err).toBeInstanceOf(OutboundAddressRefused);
    expect(target.connections()).toBe(0);
  });

  it('resolves names at connect time: a name that (re)binds to loopback is refused', async () => {
    const lookup = jest
      .spyOn(dns, 'lookup')
      .mockImplementation(((_h: string, _o: unknown, cb: (err: Error | null, addresses?: dns.LookupAddress[]) => void) => cb(null, [{ address: '127.0.0.1', family: 4 }])) as any);
    try {
      const err = await outboundRequest(`http://rebinding.test:${target.port}/x`, GUARDED).catch((e) => e);
      expect(err).toBeInstanceOf(OutboundAddressRefused);
      expect(lookup).toHaveBeenCalled();
      expect(target.connections()).toBe(0);
    } finally {
      lookup.mockRestore();
    }
  });

  it('checks every redirect hop, also when the first URL may be private', async () => {
    const redirector = await countingServer((_req, res) => res.writeHead(302, { Location: `http://[::ffff:127.0.0.1]:${target.port}/x` }).end());
    try {
      const err = await outboundRequest(`${redirector.origin}/start`, { ...GUARDED, maxRedirects: 3, allowPrivateNetworks: (u) => u.origin === redirector.origin }).catch((e) => e);
      expect(err).toBeInstanceOf(OutboundAddressRefused);
      expect(redirector.connections()).toBe(1);
      expect(target.connections()).toBe(0);
    } finally {
      await redirector.close();
    }
  });

  it('reaches loopback only where explicitly allowed', async () => {
    const res = await outboundRequest(`${target.origin}/x`, { ...GUARDED, allowPrivateNetworks: true });
    expect(res).toMatchObject({ status: 200, body: '{"secret":"internal"}' });
    expect(target.connections()).toBe(1);
  });

  it('the exported agent (for upstreams added at run time) refuses the same way', async () => {
    const agent = createGuardedAgent('http:');
    const err = await new Promise<Error>((resolve) => {
      http.get(`http://[::ffff:7f00:1]:${target.port}/x`, { agent }, () => resolve(new Error('connected'))).on('error', resolve);
    });
    expect(err).toBeInstanceOf(OutboundAddressRefused);
    const viaName = await new Promise<Error>((resolve) => {
      http.get(`http://localhost:${target.port}/x`, { agent }, () => resolve(new Error('connected'))).on('error', resolve);
    });
    expect(viaName).toBeInstanceOf(OutboundAddressRefused);
    expect(target.connections()).toBe(0);
    agent.destroy();
  });

  it('gives the same kind of error for refused, closed and reset ports (the caller shows one message)', async () => {
    const closed = await countingServer();
    await closed.close();
    const reset = await countingServer();
    try {
      const errors = await Promise.all([
        outboundRequest(`${target.origin}/x`, GUARDED).catch((e) => e),
        outboundRequest(`${closed.origin}/x`, { ...GUARDED, allowPrivateNetworks: true }).catch((e) => e),
        outboundRequest(`${reset.origin}/x`, { ...GUARDED, allowPrivateNetworks: true }).catch((e) => e),
      ]);
      for (const err of errors) expect(err).toBeInstanceOf(OutboundRequestError);
      expect(errors[1].message).toMatch(/ECONNREFUSED/); // the detail is there for the log
    } finally {
      await reset.close();
    }
  });
});

describe('SSRF guard: upstream authorization servers', () => {
  it('refuses an authorization server the upstream names on a private address it was not configured with', async () => {
    const as = await countingServer((_req, res) => res.writeHead(404).end());
    // The upstream (configured, trusted, on loopback) names an AS on another loopback origin.
    const upstream = await countingServer((req, res) => {
      if (req.url?.startsWith('/.well-known/oauth-protected-resource')) {
        return void res
          .writeHead(200, { 'Content-Type': 'application/json' })
          .end(JSON.stringify({ resource: `http://${req.headers.host}/mcp`, authorization_servers: [`http://[::ffff:127.0.0.1]:${as.port}`] }));
      }
      res.writeHead(404).end();
    });
    try {
      const err = await new AuthServerDiscovery().authServer(upstreamFor(`${upstream.origin}/mcp`)).catch((e) => e);
      expect(err.message).toMatch(/not a public address.*auth\.oauth/);
      expect(upstream.connections()).toBeGreaterThan(0);
      expect(as.connections()).toBe(0);
    } finally {
      await as.close();
      await upstream.close();
    }
  });

  it('reaches an authorization server on loopback when its issuer is written in the configuration', async () => {
    const fixture = await startOAuthUpstream();
    const prm = await countingServer((req, res) => {
      if (req.url?.startsWith('/.well-known/oauth-protected-resource')) {
        return void res
          .writeHead(200, { 'Content-Type': 'application/json' })
          .end(JSON.stringify({ resource: `http://${req.headers.host}/mcp`, authorization_servers: [fixture.issuer] }));
      }
      res.writeHead(404).end();
    });
    try {
      const discovered = await new AuthServerDiscovery().authServer(upstreamFor(`${prm.origin}/mcp`)).catch((e) => e);
      expect(discovered).toBeInstanceOf(Error); // learned from the upstream's document: refused
      const configured = await new AuthServerDiscovery().authServer(upstreamFor(`${prm.origin}/mcp`, { issuer: fixture.issuer }));
      expect(configured.metadata.token_endpoint).toBe(`${fixture.issuer}/token`);
    } finally {
      await prm.close();
      await fixture.close();
    }
  });

  it('refuses a token endpoint on a private address outside the configuration', async () => {
    const tokenEndpoint = await countingServer((_req, res) => res.end('{"access_token":"x"}'));
    try {
      const client = { clientId: 'c', clientSecret: null, authMethod: 'none' as const, registered: false };
      const err = await requestTokens(
        upstreamFor('http://127.0.0.1:9/mcp'),
        { metadata: { issuer: 'http://127.0.0.1:9', token_endpoint: `http://localhost:${tokenEndpoint.port}/token` }, issuerKnown: true, resource: 'http://127.0.0.1:9/mcp' },
        client,
        { grant_type: 'refresh_token', refresh_token: 'r' },
        null,
      ).catch((e) => e);
      expect(err.message).toContain('not a public address');
      expect(tokenEndpoint.connections()).toBe(0);
    } finally {
      await tokenEndpoint.close();
    }
  });
});

describe('outbound requests: the timeout bounds the whole exchange', () => {
  /** A loopback server that sends `instant` at once, then `slow` one byte every 300 ms (a minute for 200 bytes). */
  async function trickling(instant: string, slow: string) {
    const server = net.createServer((socket) => {
      socket.resume();
      socket.write(instant);
      let sent = 0;
      const timer = setInterval(() => (sent < slow.length ? socket.write(slow[sent++]) : clearInterval(timer)), 300);
      socket.on('close', () => clearInterval(timer));
      socket.on('error', () => clearInterval(timer));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise<void>((r) => server.close(() => r())) };
  }
  const HEAD = 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n';

  it.each([
    ['its headers', '', HEAD + '{}'.padEnd(200, ' ')],
    ['its body', HEAD, '{}'.padEnd(200, ' ')],
  ])(
    'a server trickling %s a byte at a time is cut off at the deadline',
    async (_part, instant, slow) => {
      const server = await trickling(instant, slow);
      try {
        const err = await outboundRequest(`${server.origin}/doc.json`, { ...GUARDED, allowPrivateNetworks: true, timeoutMs: 1000 }).catch((e) => e);
        expect(err).toBeInstanceOf(OutboundRequestError);
        expect(err.message).toContain('within 1000 ms');
      } finally {
        await server.close();
      }
    },
    15_000,
  );
});
