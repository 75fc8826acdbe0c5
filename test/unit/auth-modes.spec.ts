import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { DataSource } from 'typeorm';
import { ConfigError, loadConfig } from '../../server/src/config/config.loader';
import { UsersService } from '../../server/src/identity/users.service';
import { AUTH_MODE_CLASSES, AUTH_MODES, AuthModesService, AuthStepUnavailable, ConsentInputError } from '../../server/src/upstreams/auth-modes';
import { HeadersAuthConfig } from '../../server/src/upstreams/auth-modes/headers';
import { NoneAuthConfig } from '../../server/src/upstreams/auth-modes/none';
import { OAuthAuthConfig } from '../../server/src/upstreams/auth-modes/oauth';
import { UserCredentialsAuthConfig } from '../../server/src/upstreams/auth-modes/user-credentials';
import { UpstreamCredentialsService } from '../../server/src/upstreams/upstream-credentials.service';
import { UpstreamsService } from '../../server/src/upstreams/upstreams.service';
import { upstreamOwner } from '../../server/src/vault/vault-addresses';
import { VaultService } from '../../server/src/vault/vault.service';
import { freePort, startTestGateway, TestGateway } from '../helpers/gateway';

const STATIC_SECRET = 'the-static-secret-value';
const CLIENT_SECRET = 'the-upstream-client-secret';

const upstreamYaml = (auth: string) => `upstreams:\n  - slug: a\n    url: http://127.0.0.1:1/mcp\n    auth:\n${auth}`;

describe('auth modes: config (a union keyed on auth.mode)', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'gatehouse-auth-modes-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const load = (yaml: string) => {
    const file = join(dir, 'config.yaml');
    writeFileSync(file, yaml);
    return loadConfig({ GATEHOUSE_CONFIG: file });
  };
  const configError = (yaml: string): ConfigError => {
    try {
      load(yaml);
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return err as ConfigError;
    }
    throw new Error('expected a ConfigError');
  };

  it('lists the registered modes in a fixed order', () => {
    expect(AUTH_MODES).toEqual(['none', 'headers', 'user_credentials', 'oauth']);
  });

  it.each([
    ['none', '      mode: none\n', NoneAuthConfig],
    ['headers', '      mode: headers\n      headers:\n        X-Api-Key: k\n', HeadersAuthConfig],
    [
      'user_credentials',
      '      mode: user_credentials\n      fields:\n        - name: api_key\n          label: API key\n      headers:\n        Authorization: Bearer {{api_key}}\n',
      UserCredentialsAuthConfig,
    ],
    ['oauth', '      mode: oauth\n      oauth:\n        client_id: gatehouse\n', OAuthAuthConfig],
  ])('mode %s is validated by its own class', (mode, auth, configClass) => {
    const config = load(upstreamYaml(auth)).upstreams[0].auth;
    expect(config).toBeInstanceOf(configClass);
    expect(config.mode).toBe(mode);
  });

  it('an upstream without auth, or with auth but no mode, is mode none', () => {
    expect(load('upstreams:\n  - slug: a\n    url: http://127.0.0.1:1/mcp\n').upstreams[0].auth).toBeInstanceOf(NoneAuthConfig);
    expect(load('upstreams:\n  - slug: a\n    url: http://127.0.0.1:1/mcp\n    auth: {}\n').upstreams[0].auth).toMatchObject({ mode: 'none' });
  });

  it.each([
    ['alone', '      mode: magic\n'],
    ['next to keys of some mode', '      mode: magic\n      headers:\n        X: y\n'],
    ['next to a key no mode knows', '      mode: magic\n      bogus: 1\n'],
  ])('a wrong mode %s is named, with the modes there are', (_case, auth) => {
    const err = configError(upstreamYaml(auth));
    expect(err.key).toBe('upstreams[0].auth.mode');
    expect(err.message).toContain('must be one of: none, headers, user_credentials, oauth');
  });

  it.each([
    ['headers under mode oauth', '      mode: oauth\n      headers:\n        X: y\n', 'upstreams[0].auth.headers'],
    ['fields under mode none', '      mode: none\n      fields: []\n', 'upstreams[0].auth.fields'],
    ['oauth under mode headers', '      mode: headers\n      headers:\n        X: y\n      oauth: {}\n', 'upstreams[0].auth.oauth'],
  ])('a key of another mode (%s) is an unknown key', (_case, auth, key) => {
    const err = configError(upstreamYaml(auth));
    expect(err.key).toBe(key);
    expect(err.message).toContain('unknown key');
  });

  it.each([
    ['headers: none given', '      mode: headers\n      headers: {}\n', 'upstreams[0].auth.headers', 'mode "headers" needs at least one header'],
    ['headers: a bad header name', '      mode: headers\n      headers:\n        "a b": x\n', 'upstreams[0].auth.headers.a b', 'not a valid header name'],
    [
      'user_credentials: no fields',
      '      mode: user_credentials\n      headers:\n        Authorization: Bearer {{api_key}}\n',
      'upstreams[0].auth.fields',
      'needs at least one field',
    ],
    [
      'user_credentials: a template over an unknown field',
      '      mode: user_credentials\n      fields:\n        - name: api_key\n          label: API key\n      headers:\n        Authorization: Bearer {{token}}\n',
      'upstreams[0].auth.headers.Authorization',
      'uses {{token}}, which is not one of the fields',
    ],
    [
      'user_credentials: a field name that is no identifier',
      '      mode: user_credentials\n      fields:\n        - name: Api-Key\n          label: API key\n      headers:\n        Authorization: Bearer {{api_key}}\n',
      'upstreams[0].auth.fields[0].name',
      'must be a lowercase identifier',
    ],
    [
      'oauth: a client secret without its client id',
      '      mode: oauth\n      oauth:\n        client_secret: s\n',
      'upstreams[0].auth.oauth.client_id',
      'a client_secret needs its client_id',
    ],
    ['oauth: an issuer that is no URL', '      mode: oauth\n      oauth:\n        issuer: not-a-url\n', 'upstreams[0].auth.oauth.issuer', 'must be a URL'],
  ])('%s → names the key', (_case, auth, key, problem) => {
    const err = configError(upstreamYaml(auth));
    expect(err.key).toBe(key);
    expect(err.message).toContain(problem);
  });
});

describe('auth modes: strategies on a real gateway (vault, SQLite, registry)', () => {
  let gw: TestGateway;
  let closedPort: number;
  const upstreams = () => gw.app.get(UpstreamsService);
  const modes = () => gw.app.get(AuthModesService);
  const credentials = () => gw.app.get(UpstreamCredentialsService);
  const upstream = (slug: string) => upstreams().get(slug)!;

  const config = (keyedAuth: Record<string, unknown>) => ({
    upstreams: [
      { slug: 'open', url: 'http://127.0.0.1:1/mcp' },
      { slug: 'keyed', url: 'http://127.0.0.1:1/mcp', auth: keyedAuth },
      {
        slug: 'personal',
        name: 'Personal',
        url: 'http://127.0.0.1:1/mcp',
        auth: {
          mode: 'user_credentials',
          fields: [
            { name: 'api_key', label: 'API key' },
            { name: 'team', label: 'Team', secret: false, required: false },
          ],
          headers: { Authorization: 'Bearer {{api_key}}', 'X-Team': '{{team}}' },
        },
      },
      // Nothing listens on this loopback port: the upstream's sign-in cannot start.
      {
        slug: 'signin',
        name: 'Sign-in upstream',
        url: `http://127.0.0.1:${closedPort}/mcp`,
        auth: { mode: 'oauth', oauth: { client_id: 'gatehouse', client_secret: CLIENT_SECRET, scopes: ['calendar.read'] } },
      },
    ],
  });
  const headersAuth = { mode: 'headers', headers: { 'X-Api-Key': STATIC_SECRET, 'X-Tenant': 'blue' } };

  beforeAll(async () => {
    closedPort = await freePort();
    gw = await startTestGateway({ config: config(headersAuth) });
  });
  afterAll(async () => {
    await gw?.close();
    gw?.cleanup();
  });

  const storedSettings = async () => {
    const rows: Array<{ slug: string; auth_mode: string; auth_settings: string }> = await gw.app.get(DataSource).query('SELECT slug, auth_mode, auth_settings FROM upstreams');
    return Object.fromEntries(rows.map((r) => [r.slug, { mode: r.auth_mode, settings: JSON.parse(r.auth_settings) }]));
  };
  const empty = { headerNames: [], headerTemplates: {}, credentialFields: [], oauth: null };

  it("stores each mode's settings in the record's authSettings JSON in its existing shape", async () => {
    expect(await storedSettings()).toEqual({
      open: { mode: 'none', settings: empty },
      keyed: { mode: 'headers', settings: { ...empty, headerNames: ['X-Api-Key', 'X-Tenant'] } },
      personal: {
        mode: 'user_credentials',
        settings: {
          ...empty,
          headerTemplates: { Authorization: 'Bearer {{api_key}}', 'X-Team': '{{team}}' },
          credentialFields: [
            { name: 'api_key', label: 'API key', secret: true, required: true },
            { name: 'team', label: 'Team', secret: false, required: false },
          ],
        },
      },
      signin: {
        mode: 'oauth',
        settings: {
          ...empty,
          oauth: {
            clientId: 'gatehouse',
            hasClientSecret: true,
            issuer: null,
            authorizationEndpoint: null,
            tokenEndpoint: null,
            registrationEndpoint: null,
            scopes: ['calendar.read'],
          },
        },
      },
    });
  });

  it("seeds each mode's secrets into the vault, and only the secrets", async () => {
    const vault = gw.app.get(VaultService);
    expect((await vault.list(upstreamOwner('keyed'))).sort()).toEqual(['header:X-Api-Key', 'header:X-Tenant']);
    expect(await vault.get(upstreamOwner('keyed'), 'header:X-Api-Key')).toBe(STATIC_SECRET);
    expect(await vault.list(upstreamOwner('signin'))).toEqual(['oauth_client_secret']);
    expect(await vault.list(upstreamOwner('open'))).toEqual([]);
    expect(await vault.list(upstreamOwner('personal'))).toEqual([]);
  });

  it('describes each mode for the console without any secret value', () => {
    const described = Object.fromEntries(['open', 'keyed', 'personal', 'signin'].map((slug) => [slug, modes().describe(upstream(slug))]));
    expect(described.open).toEqual({ mode: 'none', summary: expect.any(String), secretsSet: [] });
    expect(described.keyed).toEqual({ mode: 'headers', summary: 'static headers: X-Api-Key, X-Tenant', secretsSet: ['header X-Api-Key', 'header X-Tenant'] });
    expect(described.personal).toEqual({ mode: 'user_credentials', summary: expect.stringContaining('API key, Team'), secretsSet: [] });
    expect(described.signin).toEqual({ mode: 'oauth', summary: expect.stringContaining('client gatehouse'), secretsSet: ['OAuth client secret'] });
    const text = JSON.stringify(described);
    expect(text).not.toContain(STATIC_SECRET);
    expect(text).not.toContain(CLIENT_SECRET);
  });

  it('none: sends nothing, asks nothing at consent, needs no sign-in step', async () => {
    const open = upstream('open');
    expect(await credentials().headersFor(open, 'any-user')).toEqual({ headers: {} });
    const mode = modes().for(open);
    expect(mode.consentFields(open)).toEqual([]);
    expect(await mode.prerequisite(open, 'any-user', '/authorize')).toBeNull();
    expect(await mode.canSkipConsent(open, 'any-user')).toBe(true);
  });

  it("headers: sends the vault's values under lower-cased names, cached until the upstream changes", async () => {
    const keyed = upstream('keyed');
    expect(await credentials().headersFor(keyed, 'any-user')).toEqual({ headers: { 'x-api-key': STATIC_SECRET, 'x-tenant': 'blue' } });
    await gw.app.get(VaultService).put(upstreamOwner('keyed'), 'header:X-Tenant', 'green');
    expect(await credentials().headersFor(keyed, 'any-user')).toEqual({ headers: { 'x-api-key': STATIC_SECRET, 'x-tenant': 'blue' } });
    await upstreams().setEnabled('keyed', true);
    expect(await credentials().headersFor(upstream('keyed'), 'any-user')).toEqual({ headers: { 'x-api-key': STATIC_SECRET, 'x-tenant': 'green' } });
  });

  it('user_credentials: the consent fields are stored per user and rendered into the headers', async () => {
    const user = await gw.app.get(UsersService).create({ email: 'carol@example.test', password: 'a password for tests' });
    const personal = upstream('personal');
    const mode = modes().for(personal);
    expect(mode.consentFields(personal).map((f) => f.name)).toEqual(['api_key', 'team']);
    expect(await credentials().headersFor(personal, user.id)).toEqual({ reauthorize: 'no credentials have been entered for this upstream' });
    expect(await mode.canSkipConsent(personal, user.id)).toBe(false);

    await expect(mode.saveConsentInput(personal, user.id, { api_key: '' })).rejects.toMatchObject({ message: 'API key is required', field: 'api_key' });
    await expect(mode.saveConsentInput(personal, user.id, { api_key: 'k\r\nX-Injected: 1' })).rejects.toBeInstanceOf(ConsentInputError);
    expect(await credentials().hasUserCredentials(personal, user.id)).toBe(false);

    await mode.saveConsentInput(personal, user.id, { api_key: 'key-one' });
    // The optional field is empty, so the header built from it is left out.
    expect(await credentials().headersFor(personal, user.id)).toEqual({ headers: { authorization: 'Bearer key-one' } });
    expect(await mode.canSkipConsent(personal, user.id)).toBe(true);
    // A blank field keeps the stored value.
    await mode.saveConsentInput(personal, user.id, { api_key: '', team: 'red' });
    expect(await credentials().headersFor(personal, user.id)).toEqual({ headers: { authorization: 'Bearer key-one', 'x-team': 'red' } });

    await mode.forgetUser!(personal, user.id);
    expect(await credentials().hasUserCredentials(personal, user.id)).toBe(false);
    expect(await credentials().headersFor(personal, user.id)).toEqual({ reauthorize: 'no credentials have been entered for this upstream' });
  });

  it('oauth: without upstream tokens the proxy asks for re-authorization, and /authorize adds a sign-in step', async () => {
    const signin = upstream('signin');
    const mode = modes().for(signin);
    expect(await credentials().headersFor(signin, 'no-tokens-user')).toEqual({ reauthorize: 'not signed in at the upstream' });
    expect(await mode.canSkipConsent(signin, 'no-tokens-user')).toBe(true);
    // The step cannot start (nothing listens at the upstream): a page-ready error, not a redirect.
    const failure = await mode.prerequisite(signin, 'no-tokens-user', '/authorize?x=1').catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(AuthStepUnavailable);
    expect(failure).toMatchObject({ title: 'Cannot reach the sign-in service', userMessage: expect.stringContaining('Sign-in upstream') });
  });

  it('the registry refuses a mode it does not know', () => {
    expect(() => modes().for({ authMode: 'magic' as never })).toThrow('no auth mode "magic" is registered');
  });

  it("after a mode change at restart, the old mode's secrets leave the vault and its settings the record", async () => {
    await gw.close();
    gw = await startTestGateway({ dataDir: gw.dataDir, config: config({ mode: 'none' }) });
    expect(await gw.app.get(VaultService).list(upstreamOwner('keyed'))).toEqual([]);
    expect((await storedSettings()).keyed).toEqual({ mode: 'none', settings: empty });
    expect(await credentials().headersFor(upstream('keyed'), 'any-user')).toEqual({ headers: {} });
  });
});

describe('auth modes: nothing outside upstreams/auth-modes branches on the mode', () => {
  const root = join(__dirname, '../../server/src');
  const files = (dir: string): string[] =>
    readdirSync(dir).flatMap((name) => {
      const path = join(dir, name);
      return statSync(path).isDirectory() ? files(path) : path.endsWith('.ts') ? [path] : [];
    });
  const modeNames = AUTH_MODE_CLASSES.map((c) => c.mode).join('|');
  const branch = new RegExp(`(authMode|auth\\.mode)\\s*[!=]==|case '(${modeNames})'|switch \\([^)]*(authMode|auth\\.mode)`);

  it('no comparison of authMode or auth.mode, and no switch on it, in any other file', () => {
    const offenders = files(root)
      .filter((path) => !relative(root, path).startsWith('upstreams/auth-modes/'))
      .filter((path) => branch.test(readFileSync(path, 'utf8')))
      .map((path) => relative(root, path));
    expect(offenders).toEqual([]);
  });
});
