import { AuditService } from '../../server/src/audit/audit.service';
import { startUpstream, RunningUpstream } from '../fixtures/upstream-mcp-server';
import { TestBrowser } from '../helpers/browser';
import { ADMIN, startTestGateway, TestGateway } from '../helpers/gateway';
import { mcpPost, obtainCode, pkce, registerPublicClient, tokenRequest } from '../helpers/raw-oauth';

describe('rate limits', () => {
  let upstream: RunningUpstream;
  let gw: TestGateway;
  const callback = 'http://127.0.0.1:46001/cb';

  beforeAll(async () => {
    upstream = await startUpstream();
    gw = await startTestGateway({ config: { rate_limit: { mcp_per_minute: 3, login_per_minute: 3 }, upstreams: [{ slug: 'u', url: upstream.url }] } });
  });
  afterAll(async () => {
    await gw.close();
    await upstream.close();
    gw.cleanup();
  });

  it('limits MCP requests per user and upstream with 429 and Retry-After, and audits it', async () => {
    const base = gw.config.publicUrl;
    const reg = await registerPublicClient(base, callback);
    const { verifier, challenge } = pkce();
    const code = await obtainCode(base, new TestBrowser(), ADMIN, { clientId: reg.client_id, redirectUri: callback, challenge });
    const token = (await tokenRequest(base, { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: callback, client_id: reg.client_id })).json
      .access_token;
    for (let i = 0; i < 3; i++) expect((await mcpPost(gw.mcpUrl('u'), token)).status).toBe(200);
    const limited = await mcpPost(gw.mcpUrl('u'), token);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(limited.json.error.message).toContain('too many requests');
    const rows = await gw.app.get(AuditService).list({ type: 'rate.limit' });
    expect(rows[0]).toMatchObject({ upstreamSlug: 'u', status: 429 });
  });

  it('limits login attempts per address', async () => {
    const answers = [];
    for (let i = 0; i < 4; i++) {
      const browser = new TestBrowser();
      const page = await browser.get(`${gw.config.publicUrl}/login`);
      answers.push(await browser.submit(page, { email: ADMIN.email, password: 'wrong password' }));
    }
    expect(answers.slice(0, 2).map((a) => a.status)).toEqual([401, 401]);
    expect(answers[3].status).toBe(429);
    expect(answers[3].headers.get('content-type')).toContain('text/html');
    expect(answers[3].body).toContain('Too many attempts');
  });
});
