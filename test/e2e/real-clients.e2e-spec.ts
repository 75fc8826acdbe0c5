import dns from 'node:dns';
import http from 'node:http';
import { AddressInfo } from 'node:net';
import { ClientsService } from '../../server/src/oauth/clients.service';
import { startUpstream, RunningUpstream } from '../fixtures/upstream-mcp-server';
import { TestBrowser } from '../helpers/browser';
import { ADMIN, startTestGateway, TestGateway } from '../helpers/gateway';
import { authorizeInBrowser } from '../helpers/oauth-client';
import { authorizeUrl, call, mcpPost, obtainCode, pkce, register, registerPublicClient, tokenRequest } from '../helpers/raw-oauth';

/** A loopback stand-in for a client's published metadata document. */
async function serveDocuments(docs: Record<string, (origin: string) => unknown>) {
  const hits: Record<string, number> = {};
  const server = http.createServer((req, res) => {
    hits[req.url ?? ''] = (hits[req.url ?? ''] ?? 0) + 1;
    const make = docs[req.url ?? ''];
    if (!make) return void res.writeHead(404).end();
    const body = JSON.stringify(make(`http://127.0.0.1:${(server.address() as AddressInfo).port}`));
    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'max-age=300' }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { origin, hits, close: () => new Promise<void>((r) => server.close(() => r())) };
}

describe('clients as they really are', () => {
  let upstream: RunningUpstream;
  let gw: TestGateway;
  let base: string;
  let docs: Awaited<ReturnType<typeof serveDocuments>>;
  const callback = 'http://127.0.0.1:45678/callback';

  beforeAll(async () => {
    upstream = await startUpstream();
    docs = await serveDocuments({
      '/good.json': (o) => ({ client_id: `${o}/good.json`, client_name: 'Doc Client', redirect_uris: [callback], token_endpoint_auth_method: 'none' }),
      '/liar.json': () => ({ client_id: 'http://127.0.0.1:1/someone-else.json', redirect_uris: [callback] }),
      '/secret.json': (o) => ({ client_id: `${o}/secret.json`, redirect_uris: [callback], token_endpoint_auth_method: 'client_secret_basic' }),
    });
    gw = await startTestGateway({
      config: {
        client_metadata_documents: { allow_private_networks: true },
        registration: { max_per_source_per_hour: 1000 },
        cors: { allowed_origins: ['https://claude.ai', 'http://localhost:6274'] },
        upstreams: [{ slug: 'u', url: upstream.url }],
      },
    });
    base = gw.config.publicUrl;
  });
  afterAll(async () => {
    await gw.close();
    await upstream.close();
    await docs.close();
    gw.cleanup();
  });

  describe('Client ID Metadata Documents', () => {
    it('advertises support, and a client identified by its document URL completes the flow', async () => {
      const meta = (await call(`${base}/.well-known/oauth-authorization-server`)).json;
      expect(meta.client_id_metadata_document_supported).toBe(true);

      const clientId = `${docs.origin}/good.json`;
      const { verifier, challenge } = pkce();
      const browser = new TestBrowser();
      const login = await browser.follow(
        authorizeUrl(base, { response_type: 'code', client_id: clientId, redirect_uri: callback, code_challenge: challenge, code_challenge_method: 'S256', state: 's' }),
      );
      const consent = await browser.follow(await browser.submit(login, { email: ADMIN.email, password: ADMIN.password }));
      expect(consent.body).toContain('Doc Client');
      expect(consent.body).toContain(`published by ${new URL(docs.origin).host}`);
      const redirect = await browser.submit(consent, {}, { button: 'decision=approve' });
      const code = new URL(redirect.location!).searchParams.get('code')!;
      const tokens = await tokenRequest(base, { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: callback, client_id: clientId });
      expect(tokens.status).toBe(200);
      expect((await mcpPost(gw.mcpUrl('u'), tokens.json.access_token)).status).toBe(200);
      const refreshed = await tokenRequest(base, { grant_type: 'refresh_token', refresh_token: tokens.json.refresh_token, client_id: clientId });
      expect(refreshed.status).toBe(200);
      // Authorize, token and refresh all used the document fetched once (Cache-Control: max-age=300).
      expect(docs.hits['/good.json']).toBe(1);
    });

    it.each([
      ['a document whose client_id is not its URL', '/liar.json', callback, 'different client_id'],
      ['a redirect URI the document does not list', '/good.json', 'http://127.0.0.1:45678/elsewhere', 'redirect_uri is not one'],
      ['a document that wants a client secret', '/secret.json', callback, 'only public clients'],
      // The cause stays in the server log: the page says the same whatever went wrong (SSRF probing).
      ['a document that does not exist', '/missing.json', callback, 'could not be fetched'],
    ])('%s → a clear error page, no redirect', async (_name, path, redirectUri, message) => {
      const res = await call(
        authorizeUrl(base, {
          response_type: 'code',
          client_id: `${docs.origin}${path}`,
          redirect_uri: redirectUri,
          code_challenge: pkce().challenge,
          code_challenge_method: 'S256',
        }),
      );
      expect(res.status).toBe(400);
      expect(res.headers.get('location')).toBeNull();
      expect(res.text).toContain(message);
    });

    it('refuses document URLs on private addresses unless the config allows them (SSRF)', async () => {
      const strict = await startTestGateway({ config: { upstreams: [{ slug: 'u', url: upstream.url }] } });
      try {
        const https = await call(
          authorizeUrl(strict.config.publicUrl, {
            response_type: 'code',
            client_id: 'https://127.0.0.1:1/client.json',
            redirect_uri: callback,
            code_challenge: pkce().challenge,
            code_challenge_method: 'S256',
          }),
        );
        expect(https.status).toBe(400);
        expect(https.text).toContain('could not be fetched');
        const plain = await call(
          authorizeUrl(strict.config.publicUrl, {
            response_type: 'code',
            client_id: `${docs.origin}/good.json`,
            redirect_uri: callback,
            code_challenge: pkce().challenge,
            code_challenge_method: 'S256',
          }),
        );
        expect(plain.status).toBe(400);
        expect(plain.text).toContain('not registered');
      } finally {
        await strict.close();
        strict.cleanup();
      }
    });

    it("uses the pinned copy of Claude's document when the live one cannot be fetched", async () => {
      // claude.ai cannot be reached from here: make its lookup fail at once instead of asking a resolver.
      const lookup = jest
        .spyOn(dns, 'lookup')
        .mockImplementation(((host: string, _opts: unknown, cb: (err: Error | null, addresses?: dns.LookupAddress[]) => void) =>
          cb(Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' }))) as any);
      try {
        const res = await call(
          authorizeUrl(base, {
            response_type: 'code',
            client_id: 'https://claude.ai/oauth/mcp-oauth-client-metadata',
            redirect_uri: 'https://claude.ai/api/mcp/auth_callback',
            code_challenge: pkce().challenge,
            code_challenge_method: 'S256',
            state: 'x',
          }),
        );
        expect(res.status).toBe(302);
        expect(res.headers.get('location')).toContain('/login?return_to=');
        expect(lookup).toHaveBeenCalled();
      } finally {
        lookup.mockRestore();
      }
    });
  });

  describe('registration and token endpoint tolerance', () => {
    it.each(['none', 'client_secret_post', 'client_secret_basic'])('registers with %s and authenticates that way at /token', async (method) => {
      const reg = (await register(base, { client_name: `m-${method}`, redirect_uris: [callback], token_endpoint_auth_method: method })).json;
      const { verifier, challenge } = pkce();
      const code = await obtainCode(base, new TestBrowser(), ADMIN, { clientId: reg.client_id, redirectUri: callback, challenge });
      const params = { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: callback };
      const basic = { Authorization: `Basic ${Buffer.from(`${reg.client_id}:${reg.client_secret}`).toString('base64')}` };
      const ok =
        method === 'client_secret_basic'
          ? await tokenRequest(base, params, basic)
          : await tokenRequest(base, { ...params, client_id: reg.client_id, client_secret: method === 'none' ? undefined : reg.client_secret });
      expect(ok.status).toBe(200);

      // The same client authenticating another way is invalid_client.
      const wrong =
        method === 'client_secret_basic'
          ? await tokenRequest(base, { grant_type: 'refresh_token', refresh_token: ok.json.refresh_token, client_id: reg.client_id, client_secret: reg.client_secret })
          : method === 'none'
            ? await tokenRequest(base, { grant_type: 'refresh_token', refresh_token: ok.json.refresh_token, client_id: reg.client_id, client_secret: 'anything' })
            : await tokenRequest(base, { grant_type: 'refresh_token', refresh_token: ok.json.refresh_token }, basic);
      expect(wrong.status).toBe(401);
      expect(wrong.json.error).toBe('invalid_client');
    });

    it('accepts the Claude.ai DCR registration as Claude sends it', async () => {
      const res = await register(base, {
        client_name: 'Claude',
        redirect_uris: ['https://claude.ai/api/mcp/auth_callback', 'https://claude.com/api/mcp/auth_callback'],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_post',
        scope: 'mcp:read mcp:tools',
      });
      expect(res.status).toBe(201);
      const auth = await call(
        authorizeUrl(base, {
          response_type: 'code',
          client_id: res.json.client_id,
          redirect_uri: 'https://claude.com/api/mcp/auth_callback',
          code_challenge: pkce().challenge,
          code_challenge_method: 'S256',
        }),
      );
      expect(auth.status).toBe(302);
      expect(auth.headers.get('location')).toContain('/login');
    });

    it('a client that re-registers on every sign-in is capped, and unused registrations are purged', async () => {
      const capped = await startTestGateway({ config: { registration: { max_per_source_per_hour: 3, unused_client_days: 30 }, upstreams: [{ slug: 'u', url: upstream.url }] } });
      try {
        const ids: string[] = [];
        for (let i = 0; i < 3; i++) ids.push((await registerPublicClient(capped.config.publicUrl, callback)).client_id);
        const fourth = await register(capped.config.publicUrl, { redirect_uris: [callback], token_endpoint_auth_method: 'none' });
        expect(fourth.status).toBe(429);
        expect(fourth.json.error_description).toContain('too many client registrations');

        const clients = capped.app.get(ClientsService);
        expect(await clients.purgeUnused(Date.now() + 29 * 86_400_000)).toBe(0);
        // A client used recently survives, however old its registration.
        const later = Date.now() + 31 * 86_400_000;
        jest.spyOn(Date, 'now').mockReturnValue(later - 86_400_000);
        await clients.touch(ids[1]);
        jest.restoreAllMocks();
        expect(await clients.purgeUnused(later)).toBe(2);
        expect(await clients.find(ids[0])).toBeNull();
        expect(await clients.find(ids[1])).not.toBeNull();
      } finally {
        await capped.close();
        capped.cleanup();
      }
    });
  });

  describe('scopes and step-up', () => {
    async function tokenWithScope(scope: string) {
      const reg = await registerPublicClient(base, callback);
      const { verifier, challenge } = pkce();
      const code = await obtainCode(base, new TestBrowser(), ADMIN, { clientId: reg.client_id, redirectUri: callback, challenge, scope });
      return (await tokenRequest(base, { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: callback, client_id: reg.client_id })).json;
    }

    it('publishes scopes_supported in both metadata documents', async () => {
      expect((await call(`${base}/.well-known/oauth-authorization-server`)).json.scopes_supported).toEqual(['mcp:read', 'mcp:tools']);
      expect((await call(`${base}/.well-known/oauth-protected-resource/mcp/u`)).json.scopes_supported).toEqual(['mcp:read', 'mcp:tools']);
    });

    it('a token without mcp:tools may read but gets the 403 insufficient_scope challenge on tools/call', async () => {
      const tokens = await tokenWithScope('mcp:read');
      expect(tokens.scope).toBe('mcp:read');
      expect(tokens.refresh_token).toBeTruthy(); // no offline_access needed
      const init = await mcpPost(gw.mcpUrl('u'), tokens.access_token);
      expect(init.status).toBe(200);
      const sessionId = init.headers.get('mcp-session-id')!;
      const callTool = { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo', arguments: { text: 'x' } } };
      for (const extra of [{}, { 'Mcp-Method': 'tools/call', 'Mcp-Name': 'echo' }] as Record<string, string>[]) {
        const res = await mcpPost(gw.mcpUrl('u'), tokens.access_token, callTool, { 'Mcp-Session-Id': sessionId, ...extra });
        expect(res.status).toBe(403);
        const challenge = res.headers.get('www-authenticate')!;
        expect(challenge).toContain('error="insufficient_scope"');
        expect(challenge).toContain('scope="mcp:read mcp:tools"');
        expect(challenge).toContain(`resource_metadata="${base}/.well-known/oauth-protected-resource/mcp/u"`);
      }
      const list = await mcpPost(
        gw.mcpUrl('u'),
        tokens.access_token,
        { jsonrpc: '2.0', id: 3, method: 'tools/list' },
        { 'Mcp-Session-Id': sessionId, 'MCP-Protocol-Version': '2025-06-18' },
      );
      expect(list.status).toBe(200);
      expect(list.text).toContain('echo');
    });
  });

  describe('transport and CORS', () => {
    let token: string;
    beforeAll(async () => {
      const reg = await registerPublicClient(base, callback);
      const { verifier, challenge } = pkce();
      const code = await obtainCode(base, new TestBrowser(), ADMIN, { clientId: reg.client_id, redirectUri: callback, challenge });
      token = (await tokenRequest(base, { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: callback, client_id: reg.client_id })).json.access_token;
    });

    it('passes the 2026-07-28 headers through and marks SSE responses unbuffered', async () => {
      const headers = { 'MCP-Protocol-Version': '2026-07-28', 'Mcp-Method': 'initialize', 'Mcp-Name': 'none' };
      const res = await mcpPost(gw.mcpUrl('u'), token, undefined, headers);
      expect(res.status).toBe(200);
      const seen = upstream.seen[upstream.seen.length - 1].headers;
      expect(seen['mcp-method']).toBe('initialize');
      expect(seen['mcp-name']).toBe('none');
      expect(seen['mcp-protocol-version']).toBe('2026-07-28');
      expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
      expect(res.headers.get('x-accel-buffering')).toBe('no');
      expect(res.headers.get('content-encoding')).toBeNull();

      const sessionId = res.headers.get('mcp-session-id')!;
      const abort = new AbortController();
      const stream = fetch(gw.mcpUrl('u'), {
        signal: abort.signal,
        headers: {
          Authorization: `Bearer ${token}`,
          Accept: 'text/event-stream',
          'Mcp-Session-Id': sessionId,
          'Last-Event-ID': 'some-event',
          'MCP-Protocol-Version': '2025-06-18',
        },
      }).catch(() => undefined);
      const seenResume = () => upstream.seen.some((r) => r.method === 'GET' && r.headers['last-event-id'] === 'some-event');
      for (let i = 0; i < 100 && !seenResume(); i++) await new Promise((r) => setTimeout(r, 20));
      expect(seenResume()).toBe(true);
      abort.abort();
      await stream;
    });

    it.each(['https://claude.ai', 'http://localhost:6274'])('answers preflights from %s on /mcp, /token and /register', async (origin) => {
      for (const path of ['/mcp/u', '/token', '/register']) {
        const res = await fetch(`${base}${path}`, {
          method: 'OPTIONS',
          headers: { Origin: origin, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization, content-type, mcp-protocol-version' },
        });
        expect(res.status).toBe(204);
        expect(res.headers.get('access-control-allow-origin')).toBe(origin);
        expect(res.headers.get('access-control-allow-headers')).toContain('Mcp-Session-Id');
        expect(res.headers.get('access-control-allow-headers')).toContain('Last-Event-ID');
      }
      const res = await mcpPost(gw.mcpUrl('u'), token, undefined, { Origin: origin });
      expect(res.status).toBe(200);
      expect(res.headers.get('access-control-expose-headers')).toContain('Mcp-Session-Id');
      expect(res.headers.get('access-control-expose-headers')).toContain('WWW-Authenticate');
    });

    it('refuses a preflight from an origin not allowed', async () => {
      const res = await fetch(`${base}/token`, { method: 'OPTIONS', headers: { Origin: 'https://evil.example', 'Access-Control-Request-Method': 'POST' } });
      expect(res.status).toBe(403);
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
      const mcp = await mcpPost(gw.mcpUrl('u'), token, undefined, { Origin: 'https://evil.example' });
      expect(mcp.status).toBe(403);
    });
  });

  it('with two upstreams, authorization with no resource never errors: the user picks one', async () => {
    const two = await startTestGateway({
      config: {
        upstreams: [
          { slug: 'a', url: upstream.url },
          { slug: 'b', url: upstream.url },
        ],
      },
    });
    try {
      const reg = await registerPublicClient(two.config.publicUrl, callback);
      const { challenge } = pkce();
      const result = await authorizeInBrowser(
        new TestBrowser(),
        authorizeUrl(two.config.publicUrl, { response_type: 'code', client_id: reg.client_id, redirect_uri: callback, code_challenge: challenge, code_challenge_method: 'S256' }),
        ADMIN,
        { extraConsentFields: { upstream: 'a' } },
      );
      expect(result.error).toBeNull();
      expect(result.code).toBeTruthy();

      // A client that discovered upstream b, then registered, gets b when it omits resource.
      await call(`${two.config.publicUrl}/.well-known/oauth-protected-resource/mcp/b`);
      const hinted = await registerPublicClient(two.config.publicUrl, callback);
      const { verifier, challenge: c2 } = pkce();
      const code = await obtainCode(two.config.publicUrl, new TestBrowser(), ADMIN, { clientId: hinted.client_id, redirectUri: callback, challenge: c2 });
      const tokens = await tokenRequest(two.config.publicUrl, {
        grant_type: 'authorization_code',
        code,
        code_verifier: verifier,
        redirect_uri: callback,
        client_id: hinted.client_id,
      });
      expect((await mcpPost(two.mcpUrl('b'), tokens.json.access_token)).status).toBe(200);
      expect((await mcpPost(two.mcpUrl('a'), tokens.json.access_token)).status).toBe(401);
    } finally {
      await two.close();
      two.cleanup();
    }
  });
});
