import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import 'reflect-metadata';
import { DynamicModule, INestApplication, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import cookieParser from 'cookie-parser';
import { AuditModule } from '../../server/src/audit/audit.module';
import { AuditService } from '../../server/src/audit/audit.service';
import { loadConfig, LoadedConfig } from '../../server/src/config/config.loader';
import { ConfigModule } from '../../server/src/config/config.module';
import { ConfigService } from '../../server/src/config/config.service';
import { DatabaseModule } from '../../server/src/database/database.module';
import { LoginSessionService } from '../../server/src/identity/login-session.service';
import { UsersService } from '../../server/src/identity/users.service';
import { Upstream, UpstreamOAuthSettings } from '../../server/src/upstreams/upstream';
import { PendingSignIns } from '../../server/src/pending-sign-ins/pending-sign-ins.service';
import { UpstreamOAuthModule } from '../../server/src/upstreams/upstream-oauth/upstream-oauth.module';
import { StoredUpstreamTokens, UpstreamAuthUnavailableError, UpstreamOAuthService } from '../../server/src/upstreams/upstream-oauth/upstream-oauth.service';
import { VaultModule } from '../../server/src/vault/vault.module';
import { VaultService } from '../../server/src/vault/vault.service';
import { FIXTURE_USER, RunningOAuthUpstream, startOAuthUpstream } from '../fixtures/upstream-oauth-server';
import { freePort } from '../helpers/gateway';

const ADMIN = { email: 'admin@example.test', password: 'correct horse battery staple' };

@Module({})
class UpstreamOAuthTestModule {
  static register(config: LoadedConfig): DynamicModule {
    return {
      module: UpstreamOAuthTestModule,
      imports: [ConfigModule.register(config), DatabaseModule, AuditModule, VaultModule, UpstreamOAuthModule],
    };
  }
}

function loadTestConfig(raw: Record<string, unknown>): LoadedConfig {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-config-'));
  const file = join(dir, 'config.yaml');
  writeFileSync(file, JSON.stringify(raw)); // JSON is valid YAML
  try {
    return loadConfig({ ...process.env, GATEHOUSE_CONFIG: file, PORT: undefined, HOST: undefined, PUBLIC_URL: undefined, DATA_DIR: undefined });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function upstreamFor(slug: string, url: string, oauth: Partial<UpstreamOAuthSettings> = {}): Upstream {
  return {
    slug,
    name: `Upstream ${slug}`,
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
    oauth: {
      clientId: null,
      hasClientSecret: false,
      issuer: null,
      authorizationEndpoint: null,
      tokenEndpoint: null,
      registrationEndpoint: null,
      scopes: [],
      ...oauth,
    },
    allow: { users: [], emails: [], emailDomains: [], groups: [] },
    resource: `http://gateway.invalid/mcp/${slug}`,
    source: 'config',
    guarded: false,
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('chained upstream OAuth (mode "oauth")', () => {
  let fixture: RunningOAuthUpstream;
  let app: INestApplication;
  let config: LoadedConfig;
  let dataDir: string;
  let gatewayUrl: string;
  let service: UpstreamOAuthService;
  let vault: VaultService;
  let audit: AuditService;
  let adminId: string;
  let adminCookie: string;
  let bobId: string;
  let bobCookie: string;
  const others: RunningOAuthUpstream[] = [];
  const savedEnv = { email: process.env.GATEHOUSE_ADMIN_EMAIL, password: process.env.GATEHOUSE_ADMIN_PASSWORD };

  const callbackUrl = () => `${config.publicUrl}/oauth/upstream/callback`;

  beforeAll(async () => {
    fixture = await startOAuthUpstream();
    dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-upstream-oauth-'));
    const port = await freePort();
    config = loadTestConfig({
      server: { host: '127.0.0.1', port, data_dir: dataDir, public_url: `http://127.0.0.1:${port}` },
      upstreams: [{ slug: 'o', url: fixture.url, auth: { mode: 'oauth' } }],
    });
    process.env.GATEHOUSE_ADMIN_EMAIL = ADMIN.email;
    process.env.GATEHOUSE_ADMIN_PASSWORD = ADMIN.password;
    app = await NestFactory.create(UpstreamOAuthTestModule.register(config), { logger: ['error'] });
    app.use(cookieParser());
    await app.listen(port, '127.0.0.1');
    gatewayUrl = `http://127.0.0.1:${port}`;
    service = app.get(UpstreamOAuthService);
    vault = app.get(VaultService);
    audit = app.get(AuditService);
    const users = app.get(UsersService);
    const sessions = app.get(LoginSessionService);
    adminId = (await users.findByEmail(ADMIN.email))!.id;
    adminCookie = `gh_session=${await sessions.start(adminId)}`;
    bobId = (await users.create({ email: 'bob@example.test', password: 'another long password 42' })).id;
    bobCookie = `gh_session=${await sessions.start(bobId)}`;
  });

  afterAll(async () => {
    await app?.close();
    await fixture?.close();
    await Promise.all(others.map((o) => o.close()));
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    process.env.GATEHOUSE_ADMIN_EMAIL = savedEnv.email;
    process.env.GATEHOUSE_ADMIN_PASSWORD = savedEnv.password;
    if (savedEnv.email === undefined) delete process.env.GATEHOUSE_ADMIN_EMAIL;
    if (savedEnv.password === undefined) delete process.env.GATEHOUSE_ADMIN_PASSWORD;
  });

  async function startOther(opts: Parameters<typeof startOAuthUpstream>[0]): Promise<RunningOAuthUpstream> {
    const other = await startOAuthUpstream(opts);
    others.push(other);
    return other;
  }

  /** Visits the upstream's /authorize (which auto-approves) and returns where it sends the browser. */
  async function visitUpstream(authorizationUrl: string): Promise<string> {
    const res = await fetch(authorizationUrl, { redirect: 'manual' });
    expect(res.status).toBe(302);
    return res.headers.get('location')!;
  }

  async function getCallback(url: string, cookie?: string): Promise<{ status: number; location: string | null; body: string }> {
    const res = await fetch(url, { redirect: 'manual', headers: cookie ? { cookie } : {} });
    return { status: res.status, location: res.headers.get('location'), body: await res.text() };
  }

  /** The whole browser round trip: gateway → upstream sign-in → gateway callback → returnTo. */
  async function signIn(upstream: Upstream, userId = adminId, cookie = adminCookie, returnTo = '/authorize?client_id=x'): Promise<void> {
    const location = await visitUpstream(await service.beginSignIn(upstream, userId, returnTo));
    expect(location.startsWith(callbackUrl())).toBe(true);
    const res = await getCallback(location, cookie);
    expect(res.status).toBe(303);
    expect(res.location).toBe(returnTo);
  }

  async function callWhoami(url: string, accessToken: string): Promise<string> {
    const client = new Client({ name: 'upstream-oauth-spec', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { Authorization: `Bearer ${accessToken}` } } }));
    try {
      const result = await client.callTool({ name: 'whoami', arguments: {} });
      return (result.content as { type: string; text: string }[])[0].text;
    } finally {
      await client.close();
    }
  }

  const rawDatabase = () => ['gatehouse.db', 'gatehouse.db-wal'].map((f) => (existsSync(join(dataDir, f)) ? readFileSync(join(dataDir, f)).toString('latin1') : '')).join('');
  const storedTokens = (upstream: Upstream, userId: string) => vault.getJson<StoredUpstreamTokens>({ type: 'user_upstream', id: `${userId}:${upstream.slug}` }, 'oauth_tokens');

  it('discovers the AS by RFC 9728 + RFC 8414, registers once by RFC 7591 and builds the authorization URL', async () => {
    const up = upstreamFor('o', fixture.url);
    const returnTo = '/authorize?client_id=abc&state=xyz';
    const first = new URL(await service.beginSignIn(up, adminId, returnTo));
    const second = new URL(await service.beginSignIn(up, adminId, returnTo));

    expect(fixture.registrations).toHaveLength(1);
    const reg = fixture.registrations[0];
    expect(reg.request).toMatchObject({
      redirect_uris: [callbackUrl()],
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
    });

    expect(`${first.origin}${first.pathname}`).toBe(`${fixture.issuer}/authorize`);
    const p = first.searchParams;
    expect(p.get('response_type')).toBe('code');
    expect(p.get('client_id')).toBe(reg.clientId);
    expect(p.get('redirect_uri')).toBe(callbackUrl());
    expect(p.get('code_challenge_method')).toBe('S256');
    expect(p.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(p.get('state')!.length).toBeGreaterThanOrEqual(32);
    expect(p.get('resource')).toBe(fixture.url);
    expect(p.has('scope')).toBe(false);
    // Fresh PKCE and state per sign-in.
    expect(second.searchParams.get('state')).not.toBe(p.get('state'));
    expect(second.searchParams.get('code_challenge')).not.toBe(p.get('code_challenge'));

    // The registration is in the vault, so a restarted gateway (a new service instance) reuses it.
    const stored = await vault.getJson<{ client_id: string }>({ type: 'upstream', id: 'o' }, 'oauth_registration');
    expect(stored?.client_id).toBe(reg.clientId);
    const restarted = new UpstreamOAuthService(vault, audit, app.get(ConfigService), app.get(PendingSignIns));
    const again = new URL(await restarted.beginSignIn(up, adminId, returnTo));
    expect(again.searchParams.get('client_id')).toBe(reg.clientId);
    expect(fixture.registrations).toHaveLength(1);
  });

  it('rejects a returnTo that is not a same-origin path', async () => {
    const up = upstreamFor('o', fixture.url);
    await expect(service.beginSignIn(up, adminId, 'https://evil.example/x')).rejects.toThrow(/same-origin path/);
    await expect(service.beginSignIn(up, adminId, '//evil.example/x')).rejects.toThrow(/same-origin path/);
  });

  it('completes the sign-in at the callback, stores the tokens only encrypted, and the token works upstream', async () => {
    const up = upstreamFor('o', fixture.url);
    expect(await service.hasUsableTokens(up, adminId)).toBe(false);
    expect(await service.accessToken(up, adminId)).toEqual({ reauthorize: 'not signed in at the upstream' });

    await signIn(up);

    const seen = fixture.authorizations.at(-1)!;
    expect(seen.redirectUri).toBe(callbackUrl());
    const exchange = fixture.tokenRequests.at(-1)!;
    expect(exchange).toMatchObject({ grantType: 'authorization_code', status: 200, clientAuth: 'none', resource: fixture.url });

    expect(await service.hasUsableTokens(up, adminId)).toBe(true);
    const result = await service.accessToken(up, adminId);
    expect('accessToken' in result).toBe(true);
    const accessToken = (result as { accessToken: string }).accessToken;
    expect(accessToken).toMatch(/^up_at_/);
    expect(await callWhoami(fixture.url, accessToken)).toBe(FIXTURE_USER);

    const tokens = (await storedTokens(up, adminId))!;
    expect(tokens.access_token).toBe(accessToken);
    expect(tokens.refresh_token).toMatch(/^up_rt_/);
    expect(tokens.expires_at).toBeGreaterThan(Date.now() + 3000_000);
    const raw = rawDatabase();
    expect(raw).not.toContain(tokens.access_token);
    expect(raw).not.toContain(tokens.refresh_token);

    const rows = await audit.list({ type: 'upstream.signin' });
    const ok = rows.find((r) => r.outcome === 'success' && r.userId === adminId);
    expect(ok).toMatchObject({ upstreamSlug: 'o' });
    const auditText = JSON.stringify(await audit.list({ limit: 1000 }));
    expect(auditText).not.toContain(tokens.access_token);
    expect(auditText).not.toContain(tokens.refresh_token!);

    // A valid token is served from memory: no refresh, same value.
    const before = fixture.refreshCount;
    for (let i = 0; i < 5; i++) expect(await service.accessToken(up, adminId)).toEqual({ accessToken });
    expect(fixture.refreshCount).toBe(before);
  });

  it('refuses a callback with an unknown state, a different browser session, or an upstream error', async () => {
    const up = upstreamFor('o', fixture.url);

    const unknown = await getCallback(`${gatewayUrl}/oauth/upstream/callback?code=abc&state=nope`, adminCookie);
    expect(unknown.status).toBe(400);
    expect(unknown.body).toContain('unknown or has expired');

    const missing = await getCallback(`${gatewayUrl}/oauth/upstream/callback`, adminCookie);
    expect(missing.status).toBe(400);

    // Started by bob, completed in a browser signed in as the admin (or not signed in): refused, and the state is spent.
    const location = await visitUpstream(await service.beginSignIn(up, bobId, '/authorize?for=bob'));
    const wrongUser = await getCallback(location, adminCookie);
    expect(wrongUser.status).toBe(403);
    expect(wrongUser.body).toContain('different Gatehouse session');
    expect((await getCallback(location, bobCookie)).status).toBe(400);
    const location2 = await visitUpstream(await service.beginSignIn(up, bobId, '/authorize?for=bob'));
    expect((await getCallback(location2)).status).toBe(403);
    expect(await service.hasUsableTokens(up, bobId)).toBe(false);

    // The upstream sends an error back (e.g. the user declined there).
    fixture.authorizeError = 'access_denied';
    try {
      const declined = await visitUpstream(await service.beginSignIn(up, bobId, '/authorize?for=bob'));
      expect(new URL(declined).searchParams.get('error')).toBe('access_denied');
      const page = await getCallback(declined, bobCookie);
      expect(page.status).toBe(400);
      expect(page.body).toContain('access_denied');
      expect(page.body).toContain('Upstream o did not complete the sign-in');
    } finally {
      fixture.authorizeError = null;
    }
    const hostile = await getCallback(`${gatewayUrl}/oauth/upstream/callback?error=%3Cscript%3Ealert(1)%3C/script%3E&state=x`, bobCookie);
    expect(hostile.status).toBe(400);
    expect(hostile.body).not.toContain('<script>alert');
    expect(hostile.body).toContain('&lt;script&gt;');

    const failures = (await audit.list({ type: 'upstream.signin' })).filter((r) => r.outcome === 'failure' && r.userId === bobId);
    expect(failures.map((r) => (r.detail as any).stage)).toEqual(expect.arrayContaining(['callback', 'authorize']));
  });

  it('refreshes a short-lived token before expiry, one refresh for concurrent callers, keeping rotation', async () => {
    const up = upstreamFor('o', fixture.url);
    fixture.accessTokenTtlSeconds = 2; // always inside the 60 s refresh margin
    try {
      await signIn(up, bobId, bobCookie);
      const signedIn = (await storedTokens(up, bobId))!;

      const before = fixture.refreshCount;
      const results = await Promise.all(Array.from({ length: 8 }, () => service.accessToken(up, bobId)));
      expect(fixture.refreshCount).toBe(before + 1);
      const tokens = new Set(results.map((r) => (r as { accessToken: string }).accessToken));
      expect(tokens.size).toBe(1);
      const [refreshed] = [...tokens];
      expect(refreshed).not.toBe(signedIn.access_token);

      const stored = (await storedTokens(up, bobId))!;
      expect(stored.access_token).toBe(refreshed);
      expect(stored.refresh_token).not.toBe(signedIn.refresh_token); // the fixture rotates
      expect(await callWhoami(fixture.url, refreshed)).toBe(FIXTURE_USER);

      // Each later call near expiry refreshes again with the rotated refresh token.
      await service.accessToken(up, bobId);
      expect(fixture.refreshCount).toBe(before + 2);

      const rows = (await audit.list({ type: 'upstream.token_refresh' })).filter((r) => r.userId === bobId && r.outcome === 'success');
      expect(rows.length).toBeGreaterThanOrEqual(2);
      expect(rows[0]).toMatchObject({ upstreamSlug: 'o', detail: expect.objectContaining({ rotated: true }) });
    } finally {
      fixture.accessTokenTtlSeconds = 3600;
    }
  });

  it('keeps the refresh token when the AS is only unavailable, and asks to re-authorize once it is refused', async () => {
    const up = upstreamFor('o', fixture.url);
    fixture.accessTokenTtlSeconds = 1;
    try {
      await signIn(up, bobId, bobCookie);
      const signedIn = (await storedTokens(up, bobId))!;

      // AS down while the access token still has a moment left: that token is used.
      fixture.tokenEndpointDown = true;
      expect(await service.accessToken(up, bobId)).toEqual({ accessToken: signedIn.access_token });
      // Expired and the AS still down: an error (the proxy answers 502), the tokens are kept.
      await sleep(1100);
      await expect(service.accessToken(up, bobId)).rejects.toBeInstanceOf(UpstreamAuthUnavailableError);
      expect(await service.hasUsableTokens(up, bobId)).toBe(true);
      fixture.tokenEndpointDown = false;
      const back = await service.accessToken(up, bobId);
      expect('accessToken' in back).toBe(true);

      // The AS forgets every refresh token: the next refresh fails for good.
      fixture.revokeAllRefreshTokens();
      await sleep(1100);
      const result = await service.accessToken(up, bobId);
      expect(result).toEqual({ reauthorize: expect.stringContaining('invalid_grant') });
      expect(await storedTokens(up, bobId)).toBeNull();
      expect(await service.hasUsableTokens(up, bobId)).toBe(false);
      expect(await service.accessToken(up, bobId)).toEqual({ reauthorize: 'not signed in at the upstream' });

      const failures = (await audit.list({ type: 'upstream.token_refresh' })).filter((r) => r.userId === bobId && r.outcome === 'failure');
      expect(failures[0]).toMatchObject({ upstreamSlug: 'o', detail: { error: 'invalid_grant' } });
      expect(failures.some((r) => typeof (r.detail as any).reason === 'string')).toBe(true); // the 503 one
    } finally {
      fixture.accessTokenTtlSeconds = 3600;
      fixture.tokenEndpointDown = false;
    }
  });

  it('markAccessTokenRejected forces a refresh; forget removes the tokens', async () => {
    const up = upstreamFor('o', fixture.url);
    await signIn(up);
    const first = (await service.accessToken(up, adminId)) as { accessToken: string };
    const before = fixture.refreshCount;
    service.markAccessTokenRejected(up, adminId);
    const second = (await service.accessToken(up, adminId)) as { accessToken: string };
    expect(fixture.refreshCount).toBe(before + 1);
    expect(second.accessToken).not.toBe(first.accessToken);

    await service.forget(up, adminId);
    expect(await storedTokens(up, adminId)).toBeNull();
    expect(await service.accessToken(up, adminId)).toEqual({ reauthorize: 'not signed in at the upstream' });
  });

  it('uses a configured client with its vault secret (client_secret_basic), a configured issuer with a path, and scopes', async () => {
    const other = await startOther({
      issuerPath: '/tenant',
      dynamicRegistration: false,
      clients: [{ clientId: 'gatehouse-conf', clientSecret: 'conf secret/+&', redirectUris: [callbackUrl()] }],
      resourceMetadataAt: 'root',
    });
    const up = upstreamFor('conf', other.url, { clientId: 'gatehouse-conf', hasClientSecret: true, issuer: other.issuer, scopes: ['files:read', 'files:write'] });
    await expect(service.beginSignIn(up, adminId, '/x')).rejects.toThrow(/upstream "conf".*client secret is missing/);
    await vault.put({ type: 'upstream', id: 'conf' }, 'oauth_client_secret', 'conf secret/+&');

    await signIn(up);
    expect(other.registrations).toHaveLength(0);
    expect(other.authorizations.at(-1)).toMatchObject({ clientId: 'gatehouse-conf', scope: 'files:read files:write', resource: other.url });
    expect(other.tokenRequests.at(-1)).toMatchObject({ grantType: 'authorization_code', clientAuth: 'basic', clientId: 'gatehouse-conf', status: 200 });
    const token = (await service.accessToken(up, adminId)) as { accessToken: string };
    expect(await callWhoami(other.url, token.accessToken)).toBe(FIXTURE_USER);
  });

  it('sends client_secret_post when the AS supports only that, and uses configured endpoints without discovery', async () => {
    const other = await startOther({
      tokenEndpointAuthMethods: ['client_secret_post'],
      clients: [{ clientId: 'posting', clientSecret: 'post-secret', redirectUris: [callbackUrl()], authMethod: 'client_secret_post' }],
    });
    await vault.put({ type: 'upstream', id: 'post' }, 'oauth_client_secret', 'post-secret');
    const up = upstreamFor('post', other.url, { clientId: 'posting', hasClientSecret: true });
    await signIn(up);
    expect(other.tokenRequests.at(-1)).toMatchObject({ clientAuth: 'post', status: 200 });

    const direct = await startOther({ clients: [{ clientId: 'public-one', redirectUris: [callbackUrl()] }] });
    const up2 = upstreamFor('direct', `${direct.origin}/elsewhere`, {
      clientId: 'public-one',
      authorizationEndpoint: `${direct.issuer}/authorize`,
      tokenEndpoint: `${direct.issuer}/token`,
    });
    await signIn(up2);
    expect(direct.tokenRequests.at(-1)).toMatchObject({ clientAuth: 'none', clientId: 'public-one', status: 200 });
  });

  it('falls back to the resource_metadata of the upstream 401 challenge, and fails clearly when nothing is found', async () => {
    const hidden = await startOther({ resourceMetadataAt: 'challenge' });
    const up = upstreamFor('hidden', hidden.url);
    expect(new URL(await service.beginSignIn(up, adminId, '/x')).origin).toBe(hidden.origin);

    const nowhere = upstreamFor('nowhere', `${hidden.origin}/no-such-mcp`);
    await expect(service.beginSignIn(nowhere, adminId, '/x')).rejects.toThrow(/upstream "nowhere": could not discover the authorization server/);
    const rows = (await audit.list({ type: 'upstream.signin' })).filter((r) => r.upstreamSlug === 'nowhere');
    expect(rows[0]).toMatchObject({ outcome: 'failure', detail: expect.objectContaining({ stage: 'discovery' }) });
  });

  it('the upstream only ever saw its own access tokens', () => {
    const presented = [fixture, ...others].flatMap((o) => o.seenAuthorizations).filter((h) => h !== undefined);
    expect(presented.length).toBeGreaterThan(0);
    for (const header of presented) expect(header).toMatch(/^Bearer up_at_/);
  });
});
