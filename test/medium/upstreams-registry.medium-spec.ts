import { createServer, Server } from 'node:http';
import { AddressInfo, createServer as createTcpServer, Server as TcpServer, Socket } from 'node:net';
import { HttpException } from '@nestjs/common';
import { AuditModule } from '../../server/src/audit/audit.module';
import { AuditService } from '../../server/src/audit/audit.service';
import { OutboundAddressRefused } from '../../server/src/common/ssrf';
import { Actor } from '../../server/src/identity/actor';
import { AuthModesService } from '../../server/src/upstreams/auth-modes';
import { classifyFailure } from '../../server/src/upstreams/connection-test/failure-stage';
import { UpstreamAdminService } from '../../server/src/upstreams/upstream-admin.service';
import { UpstreamInput } from '../../server/src/upstreams/upstream-input';
import { UpstreamsModule } from '../../server/src/upstreams/upstreams.module';
import { UpstreamsService } from '../../server/src/upstreams/upstreams.service';
import { upstreamOwner, userUpstreamOwner } from '../../server/src/vault/vault-addresses';
import { VaultModule } from '../../server/src/vault/vault.module';
import { VaultService } from '../../server/src/vault/vault.service';
import { RunningUpstream, startUpstream } from '../fixtures/upstream-mcp-server';
import { configFrom } from '../helpers/gateway';
import { createNestContext, NestContext } from './nest-context';

const ADMIN: Actor = { userId: 'admin-1', ip: '127.0.0.1' };
const SECRET = 'console-secret-value-41d7';
const FILE_SECRET = 'file-secret-value-9c02';

/** The HTTP error a service threw: its status and JSON body. */
async function refusal(promise: Promise<unknown>): Promise<{ status: number; body: any }> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof HttpException) return { status: err.getStatus(), body: err.getResponse() };
    throw err;
  }
  throw new Error('expected the call to be refused');
}

function startContext(dataDir: string | undefined, fileUpstreams: unknown[], allowPrivate = true): Promise<NestContext> {
  return createNestContext({
    imports: [AuditModule, VaultModule, UpstreamsModule],
    dataDir,
    config: { upstreams: fileUpstreams, upstreams_policy: { allow_private_networks: allowPrivate } },
  });
}

/** A loopback server answering every request with the given handler. */
async function httpServer(handler: Parameters<typeof createServer>[1]): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

describe('upstream registry: console-managed upstreams (UpstreamAdminService)', () => {
  let fixture: RunningUpstream;
  let locked: RunningUpstream;
  let ctx: NestContext;
  let admin: UpstreamAdminService;
  let registry: UpstreamsService;
  let vault: VaultService;
  let audit: AuditService;

  const headersUpstream = (slug: string, extra: Partial<UpstreamInput> = {}): UpstreamInput => ({
    slug,
    name: `Upstream ${slug}`,
    url: fixture.url,
    auth: { mode: 'headers', headers: { 'X-Api-Key': SECRET } },
    ...extra,
  });

  beforeAll(async () => {
    fixture = await startUpstream();
    locked = await startUpstream({ requiredHeaders: { 'x-api-key': SECRET } });
    ctx = await startContext(undefined, [{ slug: 'from-file', url: fixture.url, auth: { mode: 'headers', headers: { 'X-Api-Key': FILE_SECRET } } }]);
    admin = ctx.app.get(UpstreamAdminService);
    registry = ctx.app.get(UpstreamsService);
    vault = ctx.app.get(VaultService);
    audit = ctx.app.get(AuditService);
  });
  afterAll(async () => {
    await ctx?.close();
    ctx?.cleanup();
    await fixture?.close();
    await locked?.close();
  });

  describe('create', () => {
    it('stores a console upstream, its secret only in the vault, and the proxy registry sees it at once', async () => {
      const changes: string[] = [];
      registry.onChange((slug) => changes.push(slug));
      const view = await admin.create(headersUpstream('created', { scopes: ['mcp:read'], timeoutSeconds: 42 }), ADMIN);
      expect(view).toMatchObject({
        slug: 'created',
        name: 'Upstream created',
        url: fixture.url,
        enabled: true,
        source: 'console',
        readOnlyReason: null,
        timeoutSeconds: 42,
        scopes: ['mcp:read'],
        mcpUrl: `${ctx.config.publicUrl}/mcp/created`,
        auth: { mode: 'headers', settings: { headers: { 'X-Api-Key': '' } }, secretsSet: ['header X-Api-Key'] },
        allow: { users: [], emails: [], emailDomains: [], groups: [] },
        status: { lastCheckAt: null, lastError: null, requests24h: null, errors24h: null, p50Ms: null, p95Ms: null },
      });
      expect(JSON.stringify(view)).not.toContain(SECRET);
      expect(await vault.get(upstreamOwner('created'), 'header:X-Api-Key')).toBe(SECRET);
      expect(registry.get('created')).toMatchObject({ source: 'console', timeoutMs: 42_000, headerNames: ['X-Api-Key'] });
      expect(changes).toContain('created');
      // The headers mode sends the stored value (what the proxy asks for).
      expect(await ctx.app.get(AuthModesService).for(registry.get('created')!).headersFor(registry.get('created')!, 'anyone')).toEqual({ headers: { 'x-api-key': SECRET } });
    });

    it('writes an admin.upstream.create audit row naming the actor, and no audit row holds the secret', async () => {
      const [row] = await audit.list({ type: 'admin.upstream.create' });
      expect(row).toMatchObject({ userId: ADMIN.userId, ip: ADMIN.ip, upstreamSlug: 'created', outcome: 'success' });
      expect(row.detail).toMatchObject({ slug: 'created', auth_mode: 'headers' });
      const all = await audit.list({ limit: 1000 });
      expect(JSON.stringify(all)).not.toContain(SECRET);
      expect(all.some((e) => e.type === 'vault.write' && e.userId === ADMIN.userId && (e.detail as any).owner_id === 'created')).toBe(true);
    });

    it('refuses a slug that is taken, by a console upstream or by one of config.yaml (409 conflict)', async () => {
      for (const slug of ['created', 'from-file']) {
        const { status, body } = await refusal(admin.create(headersUpstream(slug), ADMIN));
        expect(status).toBe(409);
        expect(body).toEqual({ error: 'conflict', message: `an upstream with the slug "${slug}" already exists` });
      }
    });

    it.each<[string, UpstreamInput, Record<string, string | RegExp>]>([
      ['a bad slug', { slug: 'Bad Slug', url: 'http://127.0.0.1:1/mcp' }, { slug: 'must be lowercase letters, digits and dashes' }],
      ['no slug', { url: 'http://127.0.0.1:1/mcp' }, { slug: 'is required' }],
      ['a non-http url', { slug: 'u1', url: 'ftp://example.test/mcp' }, { url: /must be a URL/ }],
      ['a timeout out of range', { slug: 'u2', url: 'http://127.0.0.1:1/mcp', timeoutSeconds: 0 }, { timeoutSeconds: /must not be less than 1/ }],
      ['no scopes', { slug: 'u3', url: 'http://127.0.0.1:1/mcp', scopes: [] }, { scopes: /should not be empty/ }],
      ['headers mode without headers', { slug: 'u4', url: 'http://127.0.0.1:1/mcp', auth: { mode: 'headers' } }, { 'auth.headers': 'mode "headers" needs at least one header' }],
      [
        'a header value that cannot be sent',
        { slug: 'u5', url: 'http://127.0.0.1:1/mcp', auth: { mode: 'headers', headers: { 'X-Key': 'a\r\nInjected: 1' } } },
        { 'auth.headers.X-Key': 'contains characters that cannot be sent in an HTTP header' },
      ],
      [
        'a bad header name',
        { slug: 'u6', url: 'http://127.0.0.1:1/mcp', auth: { mode: 'headers', headers: { 'Bad Name': 'v' } } },
        { 'auth.headers.Bad Name': 'not a valid header name' },
      ],
      ['a key of another mode', { slug: 'u7', url: 'http://127.0.0.1:1/mcp', auth: { mode: 'none', headers: { 'X-Key': 'v' } } }, { 'auth.headers': 'is not a known field' }],
      ['an unknown mode', { slug: 'u8', url: 'http://127.0.0.1:1/mcp', auth: { mode: 'kerberos' } }, { 'auth.mode': /must be one of: none, headers, user_credentials, oauth/ }],
      [
        'a template over a missing field',
        {
          slug: 'u9',
          url: 'http://127.0.0.1:1/mcp',
          auth: { mode: 'user_credentials', fields: [{ name: 'api_key', label: 'API key' }], headers: { Authorization: 'Bearer {{token}}' } },
        },
        { 'auth.headers.Authorization': 'uses {{token}}, which is not one of the fields' },
      ],
      [
        'a client secret without its client id',
        { slug: 'u10', url: 'http://127.0.0.1:1/mcp', auth: { mode: 'oauth', oauth: { client_secret: 'x' } } },
        { 'auth.oauth.client_id': 'a client_secret needs its client_id' },
      ],
      ['a password in the url', { slug: 'u11', url: 'http://user:pw@127.0.0.1:1/mcp' }, { url: /must not contain a user name or password/ }],
      ['an unknown field', { slug: 'u12', url: 'http://127.0.0.1:1/mcp', color: 'red' } as UpstreamInput, { color: 'is not a known field' }],
      ['a bad allow-list', { slug: 'u13', url: 'http://127.0.0.1:1/mcp', allow: { emails: 'alice@example.test' as unknown as string[] } }, { 'allow.emails': /must be an array/ }],
    ])('refuses %s with 400 naming the field, as config.yaml would', async (_what, input, fields) => {
      const { status, body } = await refusal(admin.create(input, ADMIN));
      expect(status).toBe(400);
      expect(body.error).toBe('invalid_request');
      for (const [field, problem] of Object.entries(fields)) expect(body.fields[field]).toMatch(problem);
      expect(registry.find(input.slug ?? '')).toBeUndefined();
    });

    it('normalizes the allow-list as config.yaml does (emails lower-cased, domains without "@")', async () => {
      const view = await admin.create(
        {
          slug: 'allowed',
          url: fixture.url,
          allow: { users: ['Bob@Example.test', 'user-id-1'], emails: ['Alice@Example.TEST'], emailDomains: ['@Partner.test'], groups: ['eng'] },
        },
        ADMIN,
      );
      expect(view.allow).toEqual({ users: ['bob@example.test', 'user-id-1'], emails: ['alice@example.test'], emailDomains: ['partner.test'], groups: ['eng'] });
    });
  });

  describe('edit', () => {
    beforeAll(async () => {
      await admin.create(headersUpstream('editable'), ADMIN);
    });

    it('a blank or omitted secret keeps the stored one; other fields change', async () => {
      await admin.update('editable', { name: 'Renamed', auth: { mode: 'headers', headers: { 'X-Api-Key': '' } } }, ADMIN);
      expect(await vault.get(upstreamOwner('editable'), 'header:X-Api-Key')).toBe(SECRET);
      const view = await admin.update('editable', { timeoutSeconds: 9 }, ADMIN);
      expect(view).toMatchObject({ name: 'Renamed', timeoutSeconds: 9, auth: { mode: 'headers' } });
      expect(await vault.get(upstreamOwner('editable'), 'header:X-Api-Key')).toBe(SECRET);
      expect(registry.get('editable')?.timeoutMs).toBe(9000);
    });

    it('a new value replaces the secret; a header left out is removed from the vault; a new header needs a value', async () => {
      await admin.update('editable', { auth: { mode: 'headers', headers: { 'X-Api-Key': '', 'X-Tenant': 'blue' } } }, ADMIN);
      expect(await vault.get(upstreamOwner('editable'), 'header:X-Tenant')).toBe('blue');
      await admin.update('editable', { auth: { mode: 'headers', headers: { 'X-Tenant': 'green' } } }, ADMIN);
      expect(await vault.list(upstreamOwner('editable'))).toEqual(['header:X-Tenant']);
      expect(await vault.get(upstreamOwner('editable'), 'header:X-Tenant')).toBe('green');
      const { status, body } = await refusal(admin.update('editable', { auth: { mode: 'headers', headers: { 'X-Tenant': '', 'X-New': '' } } }, ADMIN));
      expect(status).toBe(400);
      expect(body.fields).toEqual({ 'auth.headers.X-New': 'needs a value' });
    });

    it('changing the mode removes the old mode’s secrets', async () => {
      await admin.update('editable', { auth: { mode: 'none' } }, ADMIN);
      expect(await vault.list(upstreamOwner('editable'))).toEqual([]);
      expect(registry.find('editable')).toMatchObject({ authMode: 'none', headerNames: [] });
    });

    it('oauth mode: a blank client secret keeps the stored one, null removes it', async () => {
      await admin.update('editable', { auth: { mode: 'oauth', oauth: { client_id: 'gw', client_secret: 'oauth-secret-1' } } }, ADMIN);
      await admin.update('editable', { auth: { mode: 'oauth', oauth: { client_id: 'gw', client_secret: '' } } }, ADMIN);
      expect(await vault.get(upstreamOwner('editable'), 'oauth_client_secret')).toBe('oauth-secret-1');
      expect((await admin.get('editable')).auth).toMatchObject({ settings: { oauth: { client_id: 'gw', scopes: [] } }, secretsSet: ['OAuth client secret'] });
      expect(JSON.stringify(await admin.get('editable'))).not.toContain('oauth-secret-1');
      await admin.update('editable', { auth: { mode: 'oauth', oauth: { client_id: 'gw', client_secret: null } } }, ADMIN);
      expect(await vault.list(upstreamOwner('editable'))).toEqual([]);
      await admin.update('editable', { auth: { mode: 'headers', headers: { 'X-Api-Key': SECRET } } }, ADMIN);
    });

    it('the slug cannot be changed', async () => {
      const { status, body } = await refusal(admin.update('editable', { slug: 'other' }, ADMIN));
      expect(status).toBe(400);
      expect(body.fields).toEqual({ slug: 'cannot be changed (add a new upstream instead)' });
    });

    it('audits each edit by field name only, and a disable as such; a disabled upstream leaves the proxy at once', async () => {
      await admin.update('editable', { enabled: false, url: locked.url }, ADMIN);
      const [update] = await audit.list({ type: 'admin.upstream.update' });
      expect(update).toMatchObject({ userId: ADMIN.userId, upstreamSlug: 'editable' });
      expect((update.detail as any).changed).toEqual(['url', 'enabled']);
      expect((await audit.list({ type: 'admin.upstream.disable' }))[0]).toMatchObject({ userId: ADMIN.userId, upstreamSlug: 'editable' });
      expect(registry.get('editable')).toBeUndefined();
      await admin.setEnabled('editable', true, ADMIN);
      expect(registry.get('editable')?.url).toBe(locked.url);
      expect((await audit.list({ type: 'admin.upstream.enable' }))[0]).toMatchObject({ userId: ADMIN.userId, upstreamSlug: 'editable' });
      expect(JSON.stringify(await audit.list({ limit: 1000 }))).not.toContain(SECRET);
    });

    it('the allow-list editor replaces the list, normalized, audited, and at the proxy at once', async () => {
      const view = await admin.setAllow('editable', { users: [], emails: ['Carol@Example.test'], emailDomains: ['@example.org'], groups: ['ops'] }, ADMIN);
      expect(view.allow).toEqual({ users: [], emails: ['carol@example.test'], emailDomains: ['example.org'], groups: ['ops'] });
      expect(registry.get('editable')?.allow.groups).toEqual(['ops']);
      const [row] = await audit.list({ type: 'admin.upstream.allow' });
      expect(row).toMatchObject({ userId: ADMIN.userId, upstreamSlug: 'editable', detail: { slug: 'editable', allow: view.allow } });
      const { status, body } = await refusal(admin.setAllow('editable', { groups: [7 as unknown as string] }, ADMIN));
      expect(status).toBe(400);
      expect(body.fields).toEqual({ 'allow.groups': 'must be a list of strings' });
      // config.yaml's spelling is not the API's: refused, not silently dropped.
      expect((await refusal(admin.setAllow('editable', { email_domains: ['x.test'] } as never, ADMIN))).body.fields).toEqual({ 'allow.email_domains': 'is not a known field' });
      expect(registry.get('editable')?.allow.emailDomains).toEqual(['example.org']);
    });

    it('an unknown slug is 404', async () => {
      expect((await refusal(admin.update('nope', { name: 'x' }, ADMIN))).status).toBe(404);
      expect((await refusal(admin.delete('nope', ADMIN))).body).toEqual({ error: 'not_found', message: 'no upstream "nope"' });
    });
  });

  describe('upstreams from config.yaml', () => {
    it('are listed as managed by config.yaml, with their secret nowhere in the view', async () => {
      const view = (await admin.list()).find((u) => u.slug === 'from-file')!;
      expect(view.source).toBe('config');
      expect(view.readOnlyReason).toMatch(/^upstream "from-file" is managed by config\.yaml \(.*config\.yaml\); edit the file and restart the gateway to change it$/);
      expect(JSON.stringify(await admin.list())).not.toContain(FILE_SECRET);
    });

    it('refuse every change with 409 read_only, the allow-list included, and stay as they were', async () => {
      const attempts = [
        admin.update('from-file', { name: 'changed' }, ADMIN),
        admin.setEnabled('from-file', false, ADMIN),
        admin.setAllow('from-file', { emails: ['x@example.test'] }, ADMIN),
        admin.delete('from-file', ADMIN),
      ];
      for (const attempt of attempts) {
        const { status, body } = await refusal(attempt);
        expect(status).toBe(409);
        expect(body.error).toBe('read_only');
        expect(body.message).toMatch(/is managed by config\.yaml .*edit the file and restart/);
      }
      expect(registry.get('from-file')).toMatchObject({ name: 'from-file', enabled: true, allow: { emails: [] } });
      expect(await vault.get(upstreamOwner('from-file'), 'header:X-Api-Key')).toBe(FILE_SECRET);
    });
  });

  describe('delete', () => {
    it('removes the upstream, its secrets, its status and every user’s credentials for it, and nothing of another upstream', async () => {
      await admin.create(headersUpstream('b'), ADMIN);
      await admin.create(headersUpstream('ab'), ADMIN);
      await vault.put(userUpstreamOwner('user-1', 'b'), 'credentials', { api_key: 'user-1-key' });
      await vault.put(userUpstreamOwner('user-2', 'b'), 'oauth_tokens', { access_token: 't' });
      await vault.put(userUpstreamOwner('user-1', 'ab'), 'credentials', { api_key: 'keep-me' });
      await admin.test('b', ADMIN);
      await admin.delete('b', ADMIN);
      expect(registry.find('b')).toBeUndefined();
      expect((await admin.list()).map((u) => u.slug)).not.toContain('b');
      expect(await vault.list(upstreamOwner('b'))).toEqual([]);
      expect(await vault.list(userUpstreamOwner('user-1', 'b'))).toEqual([]);
      expect(await vault.list(userUpstreamOwner('user-2', 'b'))).toEqual([]);
      expect(await vault.list(upstreamOwner('ab'))).toEqual(['header:X-Api-Key']);
      expect(await vault.getJson(userUpstreamOwner('user-1', 'ab'), 'credentials')).toEqual({ api_key: 'keep-me' });
      const [row] = await audit.list({ type: 'admin.upstream.delete' });
      expect(row).toMatchObject({ userId: ADMIN.userId, upstreamSlug: 'b', detail: { slug: 'b', source: 'console' } });
      // A new upstream of the same slug starts from nothing: no old status, no old secret.
      const again = await admin.create({ slug: 'b', url: fixture.url }, ADMIN);
      expect(again.status.lastCheckAt).toBeNull();
      expect(again.auth.secretsSet).toEqual([]);
    });
  });

  describe('auth-mode forms', () => {
    it('come from the strategies: one per mode, each field described, secrets marked', () => {
      const forms = admin.authModeForms();
      expect(forms.map((f) => f.mode)).toEqual(['none', 'headers', 'user_credentials', 'oauth']);
      for (const form of forms) {
        expect(form.label).toEqual(expect.any(String));
        for (const field of form.fields) {
          expect(field).toEqual({
            name: expect.any(String),
            label: expect.any(String),
            type: expect.stringMatching(/^(text|secret|url|list|keyvalue|credential-fields)$/),
            required: expect.any(Boolean),
            help: expect.any(String),
            secret: expect.any(Boolean),
          });
        }
      }
      expect(forms.find((f) => f.mode === 'headers')!.fields).toEqual([expect.objectContaining({ name: 'headers', type: 'keyvalue', secret: true, required: true })]);
      expect(forms.find((f) => f.mode === 'oauth')!.fields.find((f) => f.name === 'oauth.client_secret')).toMatchObject({ type: 'secret', secret: true });
      expect(forms.find((f) => f.mode === 'user_credentials')!.fields.map((f) => f.type)).toEqual(['credential-fields', 'keyvalue']);
    });
  });

  describe('test connection', () => {
    it('lists the tools of a reachable upstream with the stored credential, and keeps the result as its status', async () => {
      await admin.create(headersUpstream('locked', { url: locked.url }), ADMIN);
      const result = await admin.test('locked', ADMIN);
      expect(result).toMatchObject({ ok: true, serverInfo: { name: 'gatehouse-test-upstream', version: '1.0.0' }, protocolVersion: expect.any(String) });
      if (!result.ok) throw new Error('unreachable');
      expect(result.tools.map((t) => t.name)).toEqual(expect.arrayContaining(['echo', 'whoami', 'count', 'big']));
      expect(result.tools.find((t) => t.name === 'echo')).toEqual({ name: 'echo', title: null, description: 'Echo the given text back' });
      const view = await admin.get('locked');
      expect(view.status).toMatchObject({ lastCheckAt: expect.any(Number), lastError: null, tools: result.tools });
      expect((await audit.list({ type: 'admin.upstream.test' }))[0]).toMatchObject({ outcome: 'success', userId: ADMIN.userId, upstreamSlug: 'locked' });
    });

    it('a refused credential is stage "auth", and the status keeps the error', async () => {
      await admin.create(headersUpstream('wrong-key', { url: locked.url, auth: { mode: 'headers', headers: { 'X-Api-Key': 'not-the-key' } } }), ADMIN);
      const result = await admin.test('wrong-key', ADMIN);
      expect(result).toEqual({ ok: false, stage: 'auth', message: expect.stringContaining('HTTP 401') });
      expect((await admin.get('wrong-key')).status.lastError).toMatch(/^auth: the upstream refused the credential: HTTP 401/);
      expect((await audit.list({ type: 'admin.upstream.test' }))[0]).toMatchObject({ outcome: 'failure', detail: { slug: 'wrong-key', stage: 'auth' } });
    });

    it('never shows the credential, even when the upstream echoes it back', async () => {
      const echo = await httpServer((req, res) => {
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: `bad key ${String(req.headers['x-api-key'])}` }));
      });
      try {
        await admin.create(headersUpstream('echo', { url: echo.url }), ADMIN);
        const result = await admin.test('echo', ADMIN);
        expect(result).toMatchObject({ ok: false, stage: 'auth' });
        expect(JSON.stringify(result)).not.toContain(SECRET);
        expect(JSON.stringify(result)).toContain('bad key ••••');
        expect(JSON.stringify(await admin.get('echo'))).not.toContain(SECRET);
      } finally {
        await echo.close();
      }
    });

    it('a dead port is stage "connect" with the exact error', async () => {
      const dead = await httpServer(() => {});
      const url = dead.url;
      await dead.close();
      await admin.create({ slug: 'dead', url }, ADMIN);
      expect(await admin.test('dead', ADMIN)).toEqual({ ok: false, stage: 'connect', message: expect.stringMatching(/ECONNREFUSED 127\.0\.0\.1:\d+/) });
    });

    it('https to a plain-http port is stage "tls"', async () => {
      await admin.create({ slug: 'not-tls', url: fixture.url.replace('http:', 'https:') }, ADMIN);
      expect(await admin.test('not-tls', ADMIN)).toEqual({ ok: false, stage: 'tls', message: expect.stringMatching(/^TLS failed \(/) });
    });

    it('an upstream that never answers is stage "timeout" after its own timeout', async () => {
      const sockets: Socket[] = [];
      const silent: TcpServer = createTcpServer((s) => sockets.push(s));
      await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
      try {
        await admin.create({ slug: 'silent', url: `http://127.0.0.1:${(silent.address() as AddressInfo).port}/mcp`, timeoutSeconds: 1 }, ADMIN);
        expect(await admin.test('silent', ADMIN)).toEqual({ ok: false, stage: 'timeout', message: 'no answer to initialize within 1000 ms' });
      } finally {
        sockets.forEach((s) => s.destroy());
        await new Promise<void>((r) => silent.close(() => r()));
      }
    });

    it('an HTTP error is stage "http"; an answer that is not MCP is stage "protocol"', async () => {
      const broken = await httpServer((req, res) => {
        if (req.url?.startsWith('/mcp/500')) return void res.writeHead(500, { 'content-type': 'text/plain' }).end('upstream exploded');
        res.writeHead(200, { 'content-type': 'text/html' }).end('<html>a web page</html>');
      });
      try {
        await admin.create({ slug: 'http-500', url: `${broken.url}/500` }, ADMIN);
        await admin.create({ slug: 'html', url: `${broken.url}/page` }, ADMIN);
        expect(await admin.test('http-500', ADMIN)).toEqual({ ok: false, stage: 'http', message: 'HTTP 500 to initialize (Error POSTing to endpoint: upstream exploded)' });
        expect(await admin.test('html', ADMIN)).toEqual({ ok: false, stage: 'protocol', message: expect.stringContaining('Unexpected content type: text/html') });
      } finally {
        await broken.close();
      }
    });

    it('a per-user mode uses the admin’s own credential, and asks for it on My access when there is none', async () => {
      const input: UpstreamInput = {
        slug: 'personal',
        url: locked.url,
        auth: { mode: 'user_credentials', fields: [{ name: 'api_key', label: 'API key' }], headers: { 'X-Api-Key': '{{api_key}}' } },
      };
      await admin.create(input, ADMIN);
      expect(await admin.test('personal', ADMIN)).toEqual({
        ok: false,
        stage: 'auth',
        message: expect.stringMatching(/^enter your own credentials for this upstream on My access first/),
      });
      const upstream = registry.get('personal')!;
      await ctx.app.get(AuthModesService).for(upstream).saveConsentInput(upstream, ADMIN.userId, { api_key: SECRET });
      expect(await admin.test('personal', ADMIN)).toMatchObject({ ok: true });
    });

    it('sorts network errors it did not see here by their code (no traffic: synthetic errors)', () => {
      const ctx = { step: 'initialize', timedOut: false, timeoutMs: 1000, secrets: [] };
      const dns = Object.assign(new Error('getaddrinfo ENOTFOUND mcp.invalid'), { code: 'ENOTFOUND' });
      expect(classifyFailure(dns, { ...ctx, networkError: dns })).toEqual({ ok: false, stage: 'dns', message: 'cannot resolve the host name (getaddrinfo ENOTFOUND mcp.invalid)' });
      const cert = Object.assign(new Error('certificate has expired'), { code: 'CERT_HAS_EXPIRED' });
      expect(classifyFailure(cert, { ...ctx, networkError: cert })).toEqual({ ok: false, stage: 'tls', message: 'TLS failed (CERT_HAS_EXPIRED): certificate has expired' });
      const refused = new OutboundAddressRefused('10.0.0.1 is not a public address (private)');
      expect(classifyFailure(refused, { ...ctx, networkError: refused })).toMatchObject({
        stage: 'connect',
        message: expect.stringContaining('upstreams_policy.allow_private_networks'),
      });
    });
  });
});

describe('upstream registry: console upstreams with upstreams_policy.allow_private_networks false', () => {
  let fixture: RunningUpstream;
  let dataDir: string;
  beforeAll(async () => {
    fixture = await startUpstream();
  });
  afterAll(async () => {
    await fixture.close();
  });

  it('creating one on a loopback or private address is refused, naming the setting', async () => {
    const ctx = await startContext(undefined, [], false);
    dataDir = ctx.dataDir;
    try {
      const admin = ctx.app.get(UpstreamAdminService);
      for (const url of ['http://127.0.0.1:9000/mcp', 'http://localhost:9000/mcp', 'http://[::1]:9000/mcp', 'http://192.168.1.20/mcp']) {
        const { status, body } = await refusal(admin.create({ slug: 'lan', url }, ADMIN));
        expect(status).toBe(400);
        expect(body.fields.url).toMatch(
          /^points at .*: upstreams added in the console may only reach public addresses; .*set upstreams_policy\.allow_private_networks: true in config\.yaml/,
        );
      }
      const { body } = await refusal(admin.create({ slug: 'lan', url: 'https://mcp.example.test/mcp', auth: { mode: 'oauth', oauth: { issuer: 'http://10.1.2.3' } } }, ADMIN));
      expect(Object.keys(body.fields)).toEqual(['auth.oauth.issuer']);
      expect(ctx.app.get(UpstreamsService).find('lan')).toBeUndefined();
    } finally {
      await ctx.close();
    }
  });

  it('testing one created while the setting was true is refused by the SSRF guard before connecting; upstreams of config.yaml stay trusted', async () => {
    const before = await startContext(dataDir, [], true);
    await before.app.get(UpstreamAdminService).create({ slug: 'lan', url: fixture.url }, ADMIN);
    await before.close();
    const seen = fixture.seen.length;
    const ctx = await startContext(dataDir, [{ slug: 'file-lan', url: fixture.url }], false);
    try {
      const admin = ctx.app.get(UpstreamAdminService);
      expect(ctx.app.get(UpstreamsService).find('lan')).toMatchObject({ source: 'console', guarded: true });
      const result = await admin.test('lan', ADMIN);
      expect(result).toEqual({ ok: false, stage: 'connect', message: expect.stringContaining('127.0.0.1 is not a public address (loopback)') });
      expect(result.ok || result.message).toContain('set upstreams_policy.allow_private_networks: true in config.yaml');
      expect(fixture.seen.length).toBe(seen);
      expect(ctx.app.get(UpstreamsService).find('file-lan')).toMatchObject({ source: 'config', guarded: false });
      expect(await admin.test('file-lan', ADMIN)).toMatchObject({ ok: true });
    } finally {
      await ctx.close();
      ctx.cleanup();
    }
  });

  it('an upstream config.yaml no longer lists is disabled and read-only, but may be deleted', async () => {
    const first = await startContext(undefined, [{ slug: 'gone', url: fixture.url, auth: { mode: 'headers', headers: { 'X-Api-Key': FILE_SECRET } } }]);
    await first.close();
    const ctx = await startContext(first.dataDir, []);
    try {
      const admin = ctx.app.get(UpstreamAdminService);
      expect(await admin.get('gone')).toMatchObject({
        source: 'config',
        enabled: false,
        readOnlyReason: 'removed from config.yaml, and so disabled: it can be deleted here, not edited',
      });
      expect((await refusal(admin.setEnabled('gone', true, ADMIN))).body.error).toBe('read_only');
      await admin.delete('gone', ADMIN);
      expect(ctx.app.get(UpstreamsService).find('gone')).toBeUndefined();
      expect(await ctx.app.get(VaultService).list(upstreamOwner('gone'))).toEqual([]);
    } finally {
      await ctx.close();
      ctx.cleanup();
    }
  });
});

describe('config: upstreams_policy', () => {
  it('allow_private_networks defaults to false and must be a boolean', () => {
    expect(configFrom({}).upstreams_policy.allow_private_networks).toBe(false);
    expect(configFrom({ upstreams_policy: { allow_private_networks: true } }).upstreams_policy.allow_private_networks).toBe(true);
    expect(() => configFrom({ upstreams_policy: { allow_private_networks: 'yes' } })).toThrow(
      'invalid configuration: upstreams_policy.allow_private_networks: must be a boolean value',
    );
    expect(() => configFrom({ upstreams_policy: { allow_public: true } })).toThrow('invalid configuration: upstreams_policy.allow_public: unknown key');
  });
});
