import http from 'node:http';
import net, { AddressInfo } from 'node:net';
import { Logger } from '@nestjs/common';
import { startUpstream, RunningUpstream } from '../fixtures/upstream-mcp-server';
import { TestBrowser } from '../helpers/browser';
import { ADMIN, startTestGateway, TestGateway } from '../helpers/gateway';
import { authorizeUrl, call, pkce, registerPublicClient } from '../helpers/raw-oauth';

const CALLBACK = 'http://127.0.0.1:45678/callback';

/** A loopback server counting connections; `onConnection` decides what each connection gets. */
async function loopbackServer(onConnection: (socket: net.Socket) => void) {
  let connections = 0;
  const server = net.createServer((socket) => {
    connections++;
    socket.resume(); // read (and drop) the request, so the client's close is seen
    onConnection(socket);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return { port, connections: () => connections, close: () => new Promise<void>((r) => server.close(() => r())) };
}

async function closedPort(): Promise<number> {
  const s = await loopbackServer(() => undefined);
  await s.close();
  return s.port;
}

function authorizeWith(gw: TestGateway, clientId: string) {
  return call(
    authorizeUrl(gw.config.publicUrl, {
      response_type: 'code',
      client_id: clientId,
      redirect_uri: CALLBACK,
      code_challenge: pkce().challenge,
      code_challenge_method: 'S256',
      state: 's',
    }),
  );
}

describe('SSRF through client metadata document URLs', () => {
  let upstream: RunningUpstream;
  beforeAll(async () => {
    upstream = await startUpstream();
  });
  afterAll(() => upstream.close());

  describe('with the default configuration (private networks refused)', () => {
    let gw: TestGateway;
    let target: Awaited<ReturnType<typeof loopbackServer>>;
    beforeAll(async () => {
      gw = await startTestGateway({ config: { upstreams: [{ slug: 'u', url: upstream.url }] } });
      target = await loopbackServer((s) => s.end('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}'));
    });
    afterAll(async () => {
      await gw.close();
      gw.cleanup();
      await target.close();
    });

    it.each([
      ['IPv4-mapped IPv6, dotted', (p: number) => `https://[::ffff:127.0.0.1]:${p}/x`],
      ['IPv4-mapped IPv6, hex', (p: number) => `https://[::ffff:7f00:1]:${p}/x`],
      ['IPv4-mapped unspecified', (p: number) => `https://[::ffff:0.0.0.0]:${p}/x`],
      ['IPv6 loopback', (p: number) => `https://[::1]:${p}/x`],
      ['IPv4 loopback, short form', (p: number) => `https://127.1:${p}/x`],
      ['IPv4 loopback, decimal', (p: number) => `https://2130706433:${p}/x`],
      ['unspecified IPv4', (p: number) => `https://0.0.0.0:${p}/x`],
      ['a name for loopback', (p: number) => `https://localhost:${p}/x`],
    ])('%s: refused before connecting, with the generic page', async (_name, clientId) => {
      const res = await authorizeWith(gw, clientId(target.port));
      expect(res.status).toBe(400);
      expect(res.headers.get('location')).toBeNull();
      expect(res.text).toContain('could not be fetched');
      expect(target.connections()).toBe(0);
    });
  });

  describe('in a lab that allows private networks', () => {
    let gw: TestGateway;
    let warn: jest.SpyInstance;
    beforeAll(async () => {
      gw = await startTestGateway({
        config: { client_metadata_documents: { allow_private_networks: true, fetch_timeout_ms: 1000 }, upstreams: [{ slug: 'u', url: upstream.url }] },
      });
    });
    afterAll(async () => {
      await gw.close();
      gw.cleanup();
    });
    beforeEach(() => {
      warn = jest.spyOn(Logger.prototype, 'warn');
    });
    afterEach(() => warn.mockRestore());

    it('shows one page whatever the network outcome (no port scanning through the error page); the cause is logged', async () => {
      const reset = await loopbackServer((s) => s.resetAndDestroy());
      const garbage = await loopbackServer((s) => s.end('SSH-2.0-OpenSSH_9.6\r\n'));
      const notFound = await loopbackServer((s) => s.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n'));
      const silent = await loopbackServer(() => undefined);
      const closed = await closedPort();
      try {
        const ports = { refused: closed, reset: reset.port, garbage: garbage.port, notFound: notFound.port, silent: silent.port };
        const pages: Record<string, string> = {};
        for (const [name, port] of Object.entries(ports)) {
          const res = await authorizeWith(gw, `http://127.0.0.1:${port}/client.json`);
          expect(res.status).toBe(400);
          pages[name] = res.text.replaceAll(`127.0.0.1:${port}`, 'HOST');
        }
        expect(pages.refused).toContain('The application&#39;s metadata document at HOST could not be fetched.');
        for (const page of Object.values(pages)) expect(page).toBe(pages.refused);
        const logged = warn.mock.calls.map((c) => String(c[0])).join('\n');
        expect(logged).toContain('ECONNREFUSED');
        expect(logged).toContain('HTTP 404');
        expect(logged).toContain('within 1000 ms');
      } finally {
        await Promise.all([reset.close(), garbage.close(), notFound.close(), silent.close()]);
      }
    });
  });
});

describe('upstream authorization servers through the same guard', () => {
  it('a sign-in whose authorization server the upstream names on a private address does not start, and nothing connects there', async () => {
    const as = await loopbackServer((s) => s.destroy());
    // An upstream (configured, on loopback: trusted) whose RFC 9728 metadata names an AS on another loopback origin.
    const prm = http.createServer((req, res) => {
      if (req.url?.startsWith('/.well-known/oauth-protected-resource')) {
        return void res
          .writeHead(200, { 'Content-Type': 'application/json' })
          .end(JSON.stringify({ resource: `http://${req.headers.host}/mcp`, authorization_servers: [`http://[::ffff:7f00:1]:${as.port}`] }));
      }
      res.writeHead(401).end();
    });
    await new Promise<void>((r) => prm.listen(0, '127.0.0.1', r));
    const gw = await startTestGateway({ config: { upstreams: [{ slug: 'o', url: `http://127.0.0.1:${(prm.address() as AddressInfo).port}/mcp`, auth: { mode: 'oauth' } }] } });
    try {
      const client = await registerPublicClient(gw.config.publicUrl, CALLBACK);
      const browser = new TestBrowser();
      const login = await browser.follow(
        authorizeUrl(gw.config.publicUrl, {
          response_type: 'code',
          client_id: client.client_id,
          redirect_uri: CALLBACK,
          code_challenge: pkce().challenge,
          code_challenge_method: 'S256',
          resource: gw.mcpUrl('o'),
        }),
      );
      const consent = await browser.follow(await browser.submit(login, { email: ADMIN.email, password: ADMIN.password }));
      const next = consent.status === 200 && consent.body.includes('<form') ? await browser.follow(await browser.submit(consent, {}, { button: 'decision=approve' })) : consent;
      expect(next.status).toBe(502);
      expect(next.body).toContain('Cannot reach the sign-in service');
      expect(as.connections()).toBe(0);
    } finally {
      await gw.close();
      gw.cleanup();
      await new Promise<void>((r) => prm.close(() => r()));
      await as.close();
    }
  });
});

describe('a metadata document that trickles', () => {
  it('does not hold /authorize past fetch_timeout_ms: the whole fetch has one deadline', async () => {
    const upstream = await startUpstream();
    // Headers at once, then one byte of body every 300 ms: never idle for 1 s, a minute in all.
    const slow = await loopbackServer((socket) => {
      socket.write('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n');
      const timer = setInterval(() => socket.write(' '), 300);
      socket.on('close', () => clearInterval(timer));
      socket.on('error', () => clearInterval(timer));
    });
    const gw = await startTestGateway({
      config: { client_metadata_documents: { allow_private_networks: true, fetch_timeout_ms: 1000 }, upstreams: [{ slug: 'u', url: upstream.url }] },
    });
    try {
      const res = await authorizeWith(gw, `http://127.0.0.1:${slow.port}/client.json`);
      expect(res.status).toBe(400);
      expect(res.text).toContain('could not be fetched');
      expect(slow.connections()).toBe(1);
    } finally {
      await gw.close();
      gw.cleanup();
      await slow.close();
      await upstream.close();
    }
  }, 20_000);
});
