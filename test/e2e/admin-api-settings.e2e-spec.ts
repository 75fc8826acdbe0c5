import { VaultService } from '../../server/src/vault/vault.service';
import { startUpstream, RunningUpstream } from '../fixtures/upstream-mcp-server';
import { adminApi, AdminCall, consoleSessionOf, signInToConsole } from '../helpers/admin-api';
import { TestBrowser } from '../helpers/browser';
import { ADMIN, startTestGateway, TestGateway } from '../helpers/gateway';

const STATIC_SECRET = 'static-header-value-7f3a';
const ENV_SECRET = 'value-from-the-environment-91c2';
const OAUTH_SECRET = 'upstream-client-secret-44d0';

describe('admin API: settings', () => {
  let upstream: RunningUpstream;
  let gw: TestGateway;
  let api: AdminCall;

  beforeAll(async () => {
    upstream = await startUpstream();
    process.env.SETTINGS_TEST_TEMPLATE_PREFIX = ENV_SECRET;
    gw = await startTestGateway({
      config: {
        upstreams: [
          { slug: 'static', url: upstream.url, auth: { mode: 'headers', headers: { 'X-Api-Key': STATIC_SECRET } } },
          { slug: 'env', url: upstream.url, name: '${SETTINGS_TEST_TEMPLATE_PREFIX}' },
          { slug: 'chained', url: upstream.url, auth: { mode: 'oauth', oauth: { client_id: 'gw', client_secret: OAUTH_SECRET, authorization_endpoint: `${upstream.url}/a`, token_endpoint: `${upstream.url}/t` } } },
        ],
      },
    });
    api = adminApi(gw.config.publicUrl, await signInToConsole(gw.config.publicUrl, ADMIN));
  });
  afterAll(async () => {
    delete process.env.SETTINGS_TEST_TEMPLATE_PREFIX;
    await gw.close();
    await upstream.close();
    gw.cleanup();
  });

  it('shows the version, public URL, data directory, vault key id and the effective configuration', async () => {
    const res = await api('GET', '/settings');
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({
      version: expect.stringMatching(/^\d+\.\d+\.\d+/),
      publicUrl: gw.config.publicUrl,
      dataDir: gw.dataDir,
      vaultKeyId: gw.app.get(VaultService).keyId,
    });
    expect(res.json.config.server.port).toBe(gw.config.server.port);
    expect(res.json.config.upstreams.map((u: { slug: string }) => u.slug)).toEqual(['static', 'env', 'chained']);
  });

  it('masks every secret: static header values, client secrets and values from ${ENV} references', async () => {
    const res = await api('GET', '/settings');
    const body = JSON.stringify(res.json);
    for (const secret of [STATIC_SECRET, ENV_SECRET, OAUTH_SECRET]) expect(body).not.toContain(secret);
    const [staticUp, envUp, chained] = res.json.config.upstreams;
    expect(staticUp.auth.headers['X-Api-Key']).toBe('********');
    expect(envUp.name).toBe('********');
    expect(chained.auth.oauth.client_secret).toBe('********');
    expect(chained.auth.oauth.client_id).toBe('gw');
  });

  it('is refused to members (403) and to anonymous callers (401)', async () => {
    const created = await api('POST', '/users', { email: 'settings-member@example.test', role: 'member' });
    const browser = new TestBrowser();
    const password = 'a perfectly long password';
    await browser.submit(await browser.get(created.json.inviteUrl), { password, confirm: password });
    const member = adminApi(gw.config.publicUrl, await consoleSessionOf(gw.config.publicUrl, browser));
    expect((await member('GET', '/settings')).status).toBe(403);
    expect((await adminApi(gw.config.publicUrl, null)('GET', '/settings')).status).toBe(401);
  });
});
