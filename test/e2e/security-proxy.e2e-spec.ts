import http, { IncomingHttpHeaders } from 'node:http';
import { AddressInfo } from 'node:net';
import { Logger } from '@nestjs/common';
import { AuditService } from '../../server/src/audit/audit.service';
import { UsersService } from '../../server/src/identity/users.service';
import { userUpstreamOwner } from '../../server/src/vault/vault-addresses';
import { VaultService } from '../../server/src/vault/vault.service';
import { TestBrowser } from '../helpers/browser';
import { ADMIN, startTestGateway, TestGateway } from '../helpers/gateway';
import { authorizeInBrowser } from '../helpers/oauth-client';
import { authorizeUrl, pkce, registerPublicClient, tokenRequest } from '../helpers/raw-oauth';

const REDIRECT = 'http://127.0.0.1:7777/cb';
const INIT = JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/list', params: {} });

/** A plain node:http upstream on loopback whose handler each test chooses. */
async function rawUpstream(handler: http.RequestListener) {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`;
  return {
    url,
    server,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** A token for one upstream, through the real /authorize (login + consent) and /token. */
async function tokenFor(gw: TestGateway, slug: string, opts: { scope?: string; consentFields?: Record<string, string> } = {}): Promise<string> {
  const base = gw.config.publicUrl;
  const client = await registerPublicClient(base, REDIRECT);
  const { verifier, challenge } = pkce();
  const url = authorizeUrl(base, {
    response_type: 'code',
    client_id: client.client_id,
    redirect_uri: REDIRECT,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state: 'st',
    resource: gw.mcpUrl(slug),
    scope: opts.scope,
  });
  const { code } = await authorizeInBrowser(new TestBrowser(), url, ADMIN, { redirectUri: REDIRECT, extraConsentFields: opts.consentFields });
  const res = await tokenRequest(base, { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT, client_id: client.client_id });
  if (!res.json?.access_token) throw new Error(`no token: ${res.text}`);
  return res.json.access_token;
}

interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * One request with node:http (fetch refuses to send Connection, TE, Upgrade, Proxy-* headers),
 * on its own connection.
 */
function rawRequest(url: string, opts: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: opts.method ?? 'POST', headers: opts.headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Polls until `probe` returns a value (bounded: fails after `ms`). */
async function eventually<T>(probe: () => Promise<T | undefined>, ms = 5000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

const mcpHeaders = (token: string) => ({
  Authorization: `Bearer ${token}`,
  'Content-Type': 'application/json',
  Accept: 'application/json, text/event-stream',
});

describe('proxy transport security', () => {
  describe('hop-by-hop headers never cross the proxy (RFC 9110 §7.6.1)', () => {
    let upstream: Awaited<ReturnType<typeof rawUpstream>>;
    let gw: TestGateway;
    let token: string;
    const seen: IncomingHttpHeaders[] = [];

    beforeAll(async () => {
      upstream = await rawUpstream((req, res) => {
        // The gateway's reachability probe (HEAD, at start) is not part of this test.
        if (req.method === 'HEAD') return void res.writeHead(200).end();
        seen.push(req.headers);
        req.resume();
        req.on('end', () => {
          // Chunked (no Content-Length), so node lets a Trailer header through.
          res.writeHead(200, {
            'Content-Type': 'application/json',
            Connection: 'keep-alive, X-Secret',
            'X-Secret': 'upstream-internal',
            'Keep-Alive': 'timeout=7, max=99',
            'Proxy-Authenticate': 'Basic realm="upstream"',
            'Proxy-Connection': 'keep-alive',
            'Set-Cookie': 'upstream_session=1',
            Trailer: 'X-Checksum',
            Upgrade: 'h2c',
            TE: 'trailers',
            'X-Kept': 'end-to-end',
          });
          res.end('{"jsonrpc":"2.0","id":7,"result":{}}');
        });
      });
      gw = await startTestGateway({ config: { upstreams: [{ slug: 'hops', url: upstream.url }] } });
      token = await tokenFor(gw, 'hops');
    });
    afterAll(async () => {
      await gw?.close();
      await upstream?.close();
      gw?.cleanup();
    });

    it('the upstream gets none of the client connection headers, nor what its Connection header names', async () => {
      const res = await rawRequest(gw.mcpUrl('hops'), {
        headers: {
          ...mcpHeaders(token),
          Connection: 'keep-alive, X-Client-Secret',
          'X-Client-Secret': 'client-hop-only',
          'Keep-Alive': 'timeout=9',
          'Proxy-Authorization': 'Basic Y2xpZW50OnByb3h5',
          'Proxy-Connection': 'keep-alive',
          TE: 'trailers',
          Upgrade: 'h2c',
          'X-Kept-Request': 'end-to-end',
        },
        body: INIT,
      });
      expect(res.status).toBe(200);
      const got = seen.at(-1)!;
      expect(got['x-kept-request']).toBe('end-to-end');
      for (const name of ['x-client-secret', 'keep-alive', 'proxy-authorization', 'proxy-connection', 'te', 'upgrade', 'authorization']) {
        expect([name, got[name]]).toEqual([name, undefined]);
      }
      // The gateway's own connection to the upstream has its own Connection header.
      expect(String(got.connection ?? '')).not.toMatch(/x-client-secret/i);
    });

    it('the client gets none of the upstream connection headers, nor what its Connection header names', async () => {
      const res = await rawRequest(gw.mcpUrl('hops'), { headers: mcpHeaders(token), body: INIT });
      expect(res.status).toBe(200);
      expect(JSON.parse(res.body)).toEqual({ jsonrpc: '2.0', id: 7, result: {} });
      expect(res.headers['x-kept']).toBe('end-to-end');
      for (const name of ['x-secret', 'proxy-authenticate', 'proxy-connection', 'set-cookie', 'trailer', 'upgrade', 'te']) {
        expect([name, res.headers[name]]).toEqual([name, undefined]);
      }
      // Connection and Keep-Alive, if any, are the gateway's own, not the upstream's.
      expect(String(res.headers.connection ?? '')).not.toMatch(/x-secret/i);
      expect(String(res.headers['keep-alive'] ?? '')).not.toContain('max=99');
    });
  });

  describe('an upstream that breaks off mid-response', () => {
    let upstream: Awaited<ReturnType<typeof rawUpstream>>;
    let gw: TestGateway;
    let token: string;

    beforeAll(async () => {
      // One SSE event, then the upstream's socket is destroyed: no last chunk, no clean end.
      upstream = await rawUpstream((req, res) => {
        req.resume();
        res.writeHead(200, { 'Content-Type': 'text/event-stream' });
        res.write('event: message\ndata: {"jsonrpc":"2.0","method":"notifications/progress","params":{}}\n\n', () => {
          setTimeout(() => req.socket.destroy(), 50);
        });
      });
      gw = await startTestGateway({ config: { upstreams: [{ slug: 'flaky', url: upstream.url }] } });
      token = await tokenFor(gw, 'flaky');
    });
    afterAll(async () => {
      await gw?.close();
      await upstream?.close();
      gw?.cleanup();
    });

    it.each(['POST', 'GET'])('%s: the client stream ends at once, and the audit row says the upstream aborted', async (method) => {
      const audit = gw.app.get(AuditService);
      const before = (await audit.list({ type: 'upstream.aborted' })).length;
      const outcome = await new Promise<{ firstEvent: string; ended: string }>((resolve, reject) => {
        const req = http.request(gw.mcpUrl('flaky'), { method, headers: mcpHeaders(token), agent: false }, (res) => {
          expect(res.statusCode).toBe(200);
          let firstEvent = '';
          res.setEncoding('utf8');
          res.on('data', (chunk) => (firstEvent += chunk));
          // Whichever comes first: a truncated stream shows as 'aborted'/'error' then 'close'.
          res.once('error', () => resolve({ firstEvent, ended: 'error' }));
          res.once('close', () => resolve({ firstEvent, ended: res.complete ? 'complete' : 'incomplete' }));
        });
        req.on('error', reject);
        // Bounded wait: before the fix the response stayed open forever.
        req.setTimeout(10_000, () => reject(new Error('the client stream was still open 10 s after the upstream broke off')));
        req.end(method === 'POST' ? INIT : undefined);
      });
      expect(outcome.firstEvent).toContain('notifications/progress');
      // Not a clean end: the client must not take the truncated body for a complete one.
      expect(outcome.ended).not.toBe('complete');
      const rows = await eventually(async () => {
        const found = await audit.list({ type: 'upstream.aborted' });
        return found.length > before ? found : undefined;
      });
      expect(rows[0]).toMatchObject({ type: 'upstream.aborted', outcome: 'failure', upstreamSlug: 'flaky', status: 200 });
      expect(await audit.list({ type: 'mcp.request' })).toEqual([]);
    });
  });

  describe('a stored credential that cannot be an HTTP header', () => {
    let upstream: Awaited<ReturnType<typeof rawUpstream>>;
    let gw: TestGateway;
    let requestsSeen = 0;
    const personal = (slug: string) => ({
      slug,
      name: `Personal ${slug}`,
      url: upstream.url,
      auth: { mode: 'user_credentials', fields: [{ name: 'api_key', label: 'API key', secret: true }], headers: { 'X-API-Key': 'Key {{api_key}}' } },
    });

    beforeAll(async () => {
      upstream = await rawUpstream((req, res) => {
        requestsSeen++;
        req.resume();
        res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"jsonrpc":"2.0","id":7,"result":{}}');
      });
      gw = await startTestGateway({ config: { upstreams: [personal('ctl'), personal('euro')] } });
    });
    afterAll(async () => {
      await gw?.close();
      await upstream?.close();
      gw?.cleanup();
    });

    // Values stored before consent checked them (or by any other path): the proxy must cope.
    it.each([
      ['ctl', 'bad\x01key'],
      ['euro', 'price-€-key'],
    ])('%s: a clear 502 JSON-RPC error naming the credential, audited and logged without the value, never a 404', async (slug, badValue) => {
      const token = await tokenFor(gw, slug, { consentFields: { cred_api_key: 'a-good-key' } });
      const admin = await gw.app.get(UsersService).verifyCredentials(ADMIN.email, ADMIN.password);
      await gw.app.get(VaultService).put(userUpstreamOwner(admin!.id, slug), 'credentials', { api_key: badValue });
      const logs: string[] = [];
      const spies = (['log', 'warn', 'error'] as const).map((level) =>
        jest.spyOn(Logger.prototype, level).mockImplementation((...args: unknown[]) => {
          logs.push(args.map(String).join(' '));
        }),
      );
      const before = requestsSeen;
      let res: RawResponse;
      try {
        res = await rawRequest(gw.mcpUrl(slug), { headers: mcpHeaders(token), body: INIT });
      } finally {
        spies.forEach((spy) => spy.mockRestore());
      }
      expect(res.status).toBe(502);
      const body = JSON.parse(res.body);
      expect(body).toMatchObject({ jsonrpc: '2.0', error: { code: -32002 } });
      expect(body.error.message).toContain(`credential stored for you for Personal ${slug} cannot be sent as an HTTP header`);
      expect(body.error.message).toContain('replace it');
      expect(res.body).not.toContain(badValue);
      expect(requestsSeen).toBe(before);
      expect(logs.some((line) => line.includes(`upstream ${slug}`) && line.includes('x-api-key'))).toBe(true);
      expect(logs.join('\n')).not.toContain(badValue);
      const [row] = await gw.app.get(AuditService).list({ type: 'upstream.credential' });
      expect(row).toMatchObject({ outcome: 'failure', upstreamSlug: slug, status: 502 });
      expect(JSON.stringify(row)).not.toContain(badValue);
    });
  });

  describe('timeouts', () => {
    let upstream: Awaited<ReturnType<typeof rawUpstream>>;
    let gw: TestGateway;
    let token: string;

    beforeAll(async () => {
      // Silent for 4.5 s, past the upstream's 1 s timeout and the gateway's 4 s idle-socket limit, then one event.
      upstream = await rawUpstream((req, res) => {
        req.resume();
        res.writeHead(200, { 'Content-Type': 'text/event-stream' });
        res.flushHeaders();
        setTimeout(() => res.end('event: message\ndata: {"late":true}\n\n'), 4500);
      });
      gw = await startTestGateway({ config: { upstreams: [{ slug: 'quiet', url: upstream.url, timeout: 1 }] } });
      token = await tokenFor(gw, 'quiet');
    });
    afterAll(async () => {
      await gw?.close();
      await upstream?.close();
      gw?.cleanup();
    });

    it('an open GET stream is never cut for silence: the timeout is for requests', async () => {
      const res = await rawRequest(gw.mcpUrl('quiet'), { method: 'GET', headers: { Authorization: `Bearer ${token}`, Accept: 'text/event-stream' } });
      expect(res.status).toBe(200);
      expect(res.body).toContain('"late":true');
    });

    it('a POST whose response stream goes silent past the timeout is cut off and audited as a timeout', async () => {
      const audit = gw.app.get(AuditService);
      const ended = await new Promise<string>((resolve, reject) => {
        const req = http.request(gw.mcpUrl('quiet'), { method: 'POST', headers: mcpHeaders(token), agent: false }, (res) => {
          expect(res.statusCode).toBe(200);
          res.resume();
          res.once('error', () => resolve('error'));
          res.once('close', () => resolve(res.complete ? 'complete' : 'incomplete'));
        });
        req.on('error', reject);
        req.end(INIT);
      });
      expect(ended).not.toBe('complete');
      const [row] = await eventually(async () => {
        const rows = await audit.list({ type: 'upstream.timeout' });
        return rows.length ? rows : undefined;
      });
      expect(row).toMatchObject({ outcome: 'failure', upstreamSlug: 'quiet', mcpMethod: 'tools/list' });
    });
  });

  describe('an upstream that closes an idle keep-alive socket just as the gateway reuses it', () => {
    let upstream: Awaited<ReturnType<typeof rawUpstream>>;
    let gw: TestGateway;
    let fullToken: string;
    let readOnlyToken: string;
    /** Requests the upstream answered (applied). */
    let answered = 0;
    let connections = 0;
    let closed = 0;

    beforeAll(async () => {
      // Deterministic stand-in for the race: every connection serves one request; a second
      // request on the same (reused) connection finds it reset before any response byte.
      const served = new WeakSet<object>();
      upstream = await rawUpstream((req, res) => {
        if (served.has(req.socket)) return void req.socket.destroy();
        served.add(req.socket);
        answered++;
        req.resume();
        req.on('end', () => res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"jsonrpc":"2.0","id":7,"result":{}}'));
      });
      upstream.server.on('connection', (socket) => {
        connections++;
        socket.on('close', () => closed++);
      });
      // Far above the gateway's idle limit, so only the gateway can close an idle socket in time.
      upstream.server.keepAliveTimeout = 60_000;
      gw = await startTestGateway({ config: { upstreams: [{ slug: 'racy', url: upstream.url }] } });
      fullToken = await tokenFor(gw, 'racy');
      // Holds only mcp:read: the gateway reads (buffers) the body to check the method's scope.
      readOnlyToken = await tokenFor(gw, 'racy', { scope: 'mcp:read' });
    });
    afterAll(async () => {
      await gw?.close();
      await upstream?.close();
      gw?.cleanup();
    });

    /** Leaves one pooled keep-alive socket to the upstream, which the next request reuses. */
    const prime = async () => {
      const res = await rawRequest(gw.mcpUrl('racy'), { headers: mcpHeaders(fullToken), body: INIT });
      expect(res.status).toBe(200);
    };

    const withLogs = async <T>(run: () => Promise<T>): Promise<{ result: T; logs: string[] }> => {
      const logs: string[] = [];
      const spies = (['warn', 'error'] as const).map((level) =>
        jest.spyOn(Logger.prototype, level).mockImplementation((...args: unknown[]) => {
          logs.push(args.map(String).join(' '));
        }),
      );
      try {
        return { result: await run(), logs };
      } finally {
        spies.forEach((spy) => spy.mockRestore());
      }
    };

    it.each([
      ['a GET (no body)', 'GET', () => fullToken, undefined],
      ['a DELETE (no body)', 'DELETE', () => fullToken, undefined],
      ['a POST whose body the gateway buffered', 'POST', () => readOnlyToken, INIT],
    ])('%s is retried once on a new connection and succeeds; the cause is logged', async (_name, method, token, body) => {
      await prime();
      const before = { answered, connections };
      const { result: res, logs } = await withLogs(() => rawRequest(gw.mcpUrl('racy'), { method, headers: mcpHeaders(token()), body }));
      expect(res.status).toBe(200);
      expect(answered - before.answered).toBe(1);
      // The reset reused socket, then one new connection for the retry.
      expect(connections - before.connections).toBe(1);
      expect(logs.some((line) => /upstream racy: ECONNRESET on a reused keep-alive connection before any response.*retrying/.test(line))).toBe(true);
      expect(logs.join('\n')).not.toContain(token());
    });

    it('a POST whose streamed body already flowed is not retried: a 502 JSON-RPC error, applied at most once', async () => {
      await prime();
      const before = answered;
      const { result: res, logs } = await withLogs(() => rawRequest(gw.mcpUrl('racy'), { headers: mcpHeaders(fullToken), body: INIT }));
      expect(res.status).toBe(502);
      expect(JSON.parse(res.body)).toMatchObject({ jsonrpc: '2.0', error: { code: -32002 }, id: 7 });
      expect(answered).toBe(before);
      expect(logs.some((line) => line.includes('upstream racy failed on POST: ECONNRESET on a reused keep-alive connection'))).toBe(true);
    });

    it('the gateway itself closes a pooled socket after 4 s idle, before a 5 s upstream keep-alive timeout could', async () => {
      await prime();
      const before = closed;
      // Bounded wait; without the gateway's own limit the socket would stay open for the upstream's 60 s.
      await eventually(async () => (closed > before ? true : undefined), 8000);
    });
  });

  describe('DNS-rebinding protection: Host and Origin', () => {
    let upstream: Awaited<ReturnType<typeof rawUpstream>>;
    let local: TestGateway;
    let behindProxy: TestGateway;
    let token: string;
    const initialize = JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'dns-rebinding-test', version: '1' } },
    });

    beforeAll(async () => {
      upstream = await rawUpstream((req, res) => {
        req.resume();
        req.on('end', () => res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"jsonrpc":"2.0","id":1,"result":{}}'));
      });
      local = await startTestGateway({ config: { upstreams: [{ slug: 'u', url: upstream.url }] } });
      token = await tokenFor(local, 'u');
      // A gateway published as https://gw.example.test behind a reverse proxy, reached here on loopback.
      behindProxy = await startTestGateway({
        config: {
          server: { public_url: 'https://gw.example.test', allowed_hosts: ['gatehouse', '.internal.example'] },
          upstreams: [{ slug: 'u', url: upstream.url }],
        },
      });
    });
    afterAll(async () => {
      await local?.close();
      await behindProxy?.close();
      await upstream?.close();
      local?.cleanup();
      behindProxy?.cleanup();
    });

    /** The loopback URL of a gateway, whatever its public URL. */
    const loopbackMcp = (gw: TestGateway) => `http://127.0.0.1:${gw.config.server.port}/mcp/u`;
    const post = (gw: TestGateway, headers: Record<string, string>) =>
      rawRequest(loopbackMcp(gw), { headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', ...headers }, body: initialize });

    // The MCP conformance suite's dns-rebinding-protection scenario, through the gateway.
    it('a request whose Host is a foreign name gets 403 before any authentication', async () => {
      const res = await post(local, { Host: 'evil.example.com' });
      expect(res.status).toBe(403);
      expect(JSON.parse(res.body)).toMatchObject({ jsonrpc: '2.0', error: { code: -32600, message: expect.stringContaining('host not allowed') } });
      // With a valid token too, and for a preflight.
      expect((await post(local, { Host: 'evil.example.com', Authorization: `Bearer ${token}` })).status).toBe(403);
      const preflight = await rawRequest(loopbackMcp(local), {
        method: 'OPTIONS',
        headers: { Host: 'evil.example.com', Origin: 'http://evil.example.com', 'Access-Control-Request-Method': 'POST' },
      });
      expect(preflight.status).toBe(403);
    });

    it.each(['localhost', '[::1]', '127.0.0.1'])('a loopback Host (%s) is accepted', async (name) => {
      const res = await post(local, { Host: `${name}:${local.config.server.port}`, Authorization: `Bearer ${token}` });
      expect(res.status).toBe(200);
    });

    it("the gateway's own origin is always allowed (same-origin), a foreign one is not", async () => {
      const own = await post(local, { Origin: new URL(local.config.publicUrl).origin, Authorization: `Bearer ${token}` });
      expect(own.status).toBe(200);
      expect(own.headers['access-control-allow-origin']).toBe(new URL(local.config.publicUrl).origin);
      expect((await post(local, { Origin: 'http://evil.example.com', Authorization: `Bearer ${token}` })).status).toBe(403);
    });

    it.each([
      ['the public URL host', 'gw.example.test', undefined],
      ['the public origin as Origin', 'gw.example.test', 'https://gw.example.test'],
      ['a name in server.allowed_hosts', 'gatehouse:8080', undefined],
      ['a subdomain of a .domain in server.allowed_hosts', 'gw.internal.example', undefined],
      ['an IP literal', '127.0.0.1', undefined],
    ])('behind a reverse proxy, %s passes the Host and Origin checks (then 401 without a token)', async (_name, host, origin) => {
      const res = await post(behindProxy, { Host: host, ...(origin ? { Origin: origin } : {}) });
      expect(res.status).toBe(401);
    });

    it('behind a reverse proxy, any other name is refused and the refusal says which host to use', async () => {
      const res = await post(behindProxy, { Host: 'gw.example.test.evil.example' });
      expect(res.status).toBe(403);
      expect(JSON.parse(res.body).error.message).toContain('gw.example.test');
    });
  });

  describe('a client that leaves before the upstream answers', () => {
    let upstream: Awaited<ReturnType<typeof rawUpstream>>;
    let gw: TestGateway;
    let token: string;
    let streamClosed: () => void;
    const upstreamStreamClosed = new Promise<void>((resolve) => (streamClosed = resolve));

    beforeAll(async () => {
      // Answers after 300 ms with an endless event stream.
      upstream = await rawUpstream((req, res) => {
        req.resume();
        // The gateway's start-up probe (HEAD) gets a plain answer: only the MCP POST is late.
        if (req.method !== 'POST') return void res.end();
        let tick: NodeJS.Timeout | undefined;
        const answer = setTimeout(() => {
          res.writeHead(200, { 'Content-Type': 'text/event-stream' });
          tick = setInterval(() => res.write('event: message\ndata: {}\n\n'), 50);
        }, 300);
        // Listening from the start: a response closed before the timer fires must not leave a
        // timer behind (an interval writing to a closed response kept Jest from exiting).
        res.on('close', () => {
          clearTimeout(answer);
          clearInterval(tick);
          streamClosed();
        });
      });
      gw = await startTestGateway({ config: { upstreams: [{ slug: 'late', url: upstream.url }] } });
      token = await tokenFor(gw, 'late');
    });
    afterAll(async () => {
      await gw?.close();
      await upstream?.close();
      gw?.cleanup();
    });

    it("the upstream's late stream is closed instead of being held open for nobody", async () => {
      const req = http.request(gw.mcpUrl('late'), { method: 'POST', headers: mcpHeaders(token), agent: false });
      req.on('error', () => undefined);
      req.end(INIT);
      await new Promise((r) => setTimeout(r, 100));
      req.destroy();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        upstreamStreamClosed,
        new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('the upstream stream was still open 5 s later')), 5000))),
      ]).finally(() => clearTimeout(timer));
    });
  });
});
