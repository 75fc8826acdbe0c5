import { DataSource } from 'typeorm';
import { RunningOidcProvider, startOidcProvider } from '../fixtures/oidc-provider';
import { RunningOAuthUpstream, startOAuthUpstream } from '../fixtures/upstream-oauth-server';
import { TestBrowser } from '../helpers/browser';
import { ADMIN, freePort, startTestGateway, TestGateway } from '../helpers/gateway';
import { authorizeUrl, pkce, registerPublicClient } from '../helpers/raw-oauth';

const CLIENT = { client_id: 'gatehouse', client_secret: 'pending-failure-client-secret-0123456789' };
const CALLBACK = 'http://127.0.0.1:9999/callback';

/**
 * A pending sign-in (OpenID Connect, or an upstream's OAuth) is a database row written before the
 * browser leaves for the provider. When that write fails, the browser gets an error page, not a
 * redirect to a provider whose callback could never be completed, and not a 500 or a stack trace.
 * The failure is real: the table is renamed away under the running gateway.
 */
describe('a pending sign-in that cannot be stored', () => {
  let idp: RunningOidcProvider;
  let crm: RunningOAuthUpstream;
  let gw: TestGateway;
  let base: string;
  let db: DataSource;

  beforeAll(async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    idp = await startOidcProvider({ clients: [{ ...CLIENT, redirect_uris: [`${base}/login/oidc/corp/callback`] }] });
    crm = await startOAuthUpstream();
    gw = await startTestGateway({
      port,
      config: {
        upstreams: [{ slug: 'crm', name: 'CRM', url: crm.url, auth: { mode: 'oauth' } }],
        identity_providers: [{ id: 'corp', name: 'Corp SSO', issuer: idp.issuer, ...CLIENT, new_users: 'create', allowed_email_domains: ['corp.test'] }],
      },
    });
    db = gw.app.get(DataSource);
  });

  afterAll(async () => {
    await gw?.close();
    gw?.cleanup();
    await crm?.close();
    await idp?.close();
  });

  /** Runs `step` while the pending sign-ins' table is gone, then puts it back. */
  async function withoutTable<T>(step: () => Promise<T>): Promise<T> {
    await db.query('ALTER TABLE pending_sign_ins RENAME TO pending_sign_ins_away');
    try {
      return await step();
    } finally {
      await db.query('ALTER TABLE pending_sign_ins_away RENAME TO pending_sign_ins');
    }
  }

  const noLeak = (body: string) => {
    expect(body).not.toMatch(/pending_sign_ins|QueryFailedError|SQLITE|relation|\n\s+at /);
  };

  it('OpenID Connect: a 503 page instead of the redirect to the provider, with no pending cookie; a retry works', async () => {
    const browser = new TestBrowser();
    const refused = await withoutTable(() => browser.get(`${base}/login/oidc/corp?return_to=/admin/`));
    expect(refused.status).toBe(503);
    expect(refused.headers.get('content-type')).toContain('text/html');
    expect(refused.headers.get('location')).toBeNull();
    expect(refused.headers.get('set-cookie')).toBeNull();
    expect(refused.body).toContain('Sign-in unavailable');
    noLeak(refused.body);

    // Nothing was left half-done: the next attempt goes to the provider as usual.
    const retried = await browser.get(`${base}/login/oidc/corp?return_to=/admin/`);
    expect(retried.status).toBe(302);
    expect(new URL(retried.headers.get('location')!).origin).toBe(new URL(idp.issuer).origin);
  });

  it("an upstream's OAuth during /authorize: an error page instead of the redirect to the upstream", async () => {
    const client = await registerPublicClient(base, CALLBACK);
    const browser = new TestBrowser();
    const login = await browser.follow(
      authorizeUrl(base, {
        response_type: 'code',
        client_id: client.client_id,
        redirect_uri: CALLBACK,
        code_challenge: pkce().challenge,
        code_challenge_method: 'S256',
        resource: `${base}/mcp/crm`,
      }),
    );
    // Signed in, the gateway sends the browser to the upstream's sign-in before its consent page.
    const next = await withoutTable(async () => browser.follow(await browser.submit(login, { email: ADMIN.email, password: ADMIN.password })));
    expect(next.status).toBe(502);
    expect(next.headers.get('location')).toBeNull();
    expect(next.body).toContain('cannot be signed in to right now');
    noLeak(next.body);
  });
});
