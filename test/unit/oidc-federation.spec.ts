import http from 'node:http';
import { AddressInfo } from 'node:net';
import * as oauth from 'oauth4webapi';
import * as client from 'openid-client';
import { ConfigError } from '../../server/src/config/config.loader';
import { FederatedSignInRefusal, groupsFromClaim } from '../../server/src/identity/federation/federated-users.service';
import { mayUsePassword } from '../../server/src/identity/federation/local-password-policy';
import { providerFetch, ProviderUnreachableError } from '../../server/src/identity/federation/provider-fetch';
import { refusalOf } from '../../server/src/identity/federation/refusals';
import { loginPage } from '../../server/src/pages/sign-in.pages';
import { configFrom } from '../helpers/gateway';

const PROVIDER = { id: 'corp', name: 'Corp SSO', issuer: 'https://sso.corp.test', client_id: 'gatehouse', client_secret: 'a-secret' };

function problemKeys(raw: Record<string, unknown>): string {
  try {
    configFrom(raw);
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  return '';
}

describe('identity_providers and auth in config.yaml', () => {
  it('defaults to no providers, passwords for everyone, and invite-only new users', () => {
    const config = configFrom({ identity_providers: [PROVIDER] });
    expect(configFrom({}).identity_providers).toEqual([]);
    expect(config.auth.local_passwords).toBe('enabled');
    expect(config.identity_providers[0]).toMatchObject({ scopes: ['openid', 'email', 'profile'], groups_claim: 'groups', new_users: 'invite_only', allowed_email_domains: [] });
  });

  it('names each bad key: a duplicate id, a bad issuer, an unknown policy, break_glass without its email', () => {
    const message = problemKeys({
      identity_providers: [PROVIDER, { ...PROVIDER, issuer: 'not a url', new_users: 'everyone' }],
      auth: { local_passwords: 'break_glass' },
    });
    expect(message).toContain('identity_providers[1].id: duplicate id "corp"');
    expect(message).toContain('identity_providers[1].issuer');
    expect(message).toContain('identity_providers[1].new_users');
    expect(message).toContain('auth.break_glass_email');
  });
});

describe('local password policy', () => {
  const admin = { role: 'admin' as const, email: 'root@corp.test' };
  const member = { role: 'member' as const, email: 'someone@corp.test' };
  it('enabled lets everyone in, admins_only only admins, break_glass only the named account', () => {
    expect([mayUsePassword({ local_passwords: 'enabled' }, member), mayUsePassword({ local_passwords: 'enabled' }, admin)]).toEqual([true, true]);
    expect([mayUsePassword({ local_passwords: 'admins_only' }, member), mayUsePassword({ local_passwords: 'admins_only' }, admin)]).toEqual([false, true]);
    const glass = { local_passwords: 'break_glass' as const, break_glass_email: 'Root@Corp.test' };
    expect([mayUsePassword(glass, member), mayUsePassword(glass, admin), mayUsePassword(glass, { role: 'admin', email: 'other-admin@corp.test' })]).toEqual([false, true, false]);
  });
});

describe('the groups claim', () => {
  it('takes an array of names or one name, drops what is not a name, and is bounded', () => {
    expect(groupsFromClaim(['eng', ' eng ', 7, null, '', 'ops'])).toEqual(['eng', 'ops']);
    expect(groupsFromClaim('eng')).toEqual(['eng']);
    expect(groupsFromClaim({ eng: true })).toEqual([]);
    expect(groupsFromClaim(undefined)).toEqual([]);
    expect(groupsFromClaim(['x'.repeat(201), 'ok'])).toEqual(['ok']);
    expect(groupsFromClaim(Array.from({ length: 5000 }, (_, i) => `g${i}`))).toHaveLength(200);
  });
});

describe('refusals', () => {
  it('say which ID-token check failed, for the page and the audit row', () => {
    const wrapped = (code: string, inner: Error & { cause?: unknown }) => Object.assign(new client.ClientError('wrapped', { cause: inner }), { code });
    const aud = Object.assign(new Error('unexpected JWT "aud" (audience) claim value'), { cause: { claim: 'aud' } });
    expect(refusalOf('Corp', wrapped(oauth.JWT_CLAIM_COMPARISON, aud), undefined)).toMatchObject({ status: 403, reason: 'id_token_aud' });
    expect(refusalOf('Corp', wrapped(oauth.JWT_TIMESTAMP_CHECK, new Error('exp')), undefined)).toMatchObject({ status: 403, reason: 'id_token_exp' });
    expect(refusalOf('Corp', wrapped(oauth.INVALID_RESPONSE, new Error('JWT signature verification failed')), undefined)).toMatchObject({ reason: 'id_token_signature' });
    expect(refusalOf('Corp', null, new FederatedSignInRefusal('not_invited', 'ask'))).toEqual({ status: 403, reason: 'not_invited', message: 'ask' });
    expect(refusalOf('Corp', null, { message: 'Unable to verify authorization request state' })).toMatchObject({ status: 400, reason: 'state_mismatch' });
    expect(refusalOf('Corp', new ProviderUnreachableError('https://sso.corp.test is unreachable'), undefined)).toMatchObject({ status: 502, reason: 'provider_unreachable' });
    // Whatever else: a page that says what happened, never a stack.
    const other = refusalOf('Corp', new TypeError('boom'), undefined);
    expect(other).toMatchObject({ status: 502, reason: 'provider_answer_invalid' });
    expect(other.message).not.toMatch(/\bat .*:\d+/);
  });
});

describe('requests to the provider (discovery, JWKS, token endpoint)', () => {
  let connections = 0;
  let server: http.Server;
  let origin: string;
  beforeAll(async () => {
    server = http.createServer((_req, res) => res.end('{}'));
    server.on('connection', () => connections++);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('reach a private address only at the issuer origin written in config.yaml; elsewhere the SSRF guard refuses before connecting', async () => {
    const learned = providerFetch({ issuer: 'https://sso.corp.test' });
    const before = connections;
    await expect(learned(`${origin}/jwks`, { method: 'GET', headers: {}, body: undefined as never, redirect: 'manual', signal: undefined })).rejects.toBeInstanceOf(
      ProviderUnreachableError,
    );
    expect(connections).toBe(before);

    const configured = providerFetch({ issuer: origin });
    const res = await configured(`${origin}/jwks`, { method: 'GET', headers: {}, body: undefined as never, redirect: 'manual', signal: undefined });
    expect(res.status).toBe(200);
    expect(connections).toBe(before + 1);

    // A provider added in the console is trusted with no private address, not even its issuer's.
    const fromConsole = providerFetch({ issuer: origin }, 'none');
    await expect(
      fromConsole(`${origin}/.well-known/openid-configuration`, { method: 'GET', headers: {}, body: undefined as never, redirect: 'manual', signal: undefined }),
    ).rejects.toBeInstanceOf(ProviderUnreachableError);
    expect(connections).toBe(before + 1);
  });
});

describe('the sign-in page', () => {
  it('offers a button per provider and folds the password form away when passwords are limited', () => {
    const providers = [{ id: 'corp', name: 'Corp <SSO>' }];
    const open = loginPage({ base: '', csrf: 'c', returnTo: '/authorize?x=1', providers });
    expect(open).toContain('href="/login/oidc/corp?return_to=%2Fauthorize%3Fx%3D1">Sign in with Corp &lt;SSO&gt;</a>');
    expect(open).not.toContain('<details>');
    const limited = loginPage({ base: '', csrf: 'c', returnTo: '/admin/', providers, passwordsLimited: true });
    expect(limited).toMatch(/<details><summary>Administrator sign-in with a password<\/summary><form method="post" action="\/login">/);
    // No providers: the password form as it always was.
    expect(loginPage({ base: '', csrf: 'c', returnTo: '/admin/', passwordsLimited: true })).not.toContain('<details>');
  });
});
