import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Browser, chromium } from 'playwright-core';
import { startUpstream, RunningUpstream } from '../fixtures/upstream-mcp-server';
import { ADMIN, startTestGateway, TestGateway } from '../helpers/gateway';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

describe('admin UI in a real browser (Debian chromium)', () => {
  let upstream: RunningUpstream;
  let gw: TestGateway;
  let browser: Browser;

  beforeAll(async () => {
    if (!existsSync(join(__dirname, '..', '..', 'dist', 'web', 'index.html'))) {
      throw new Error('dist/web is missing: run `npm run build:web` (npm test does it first)');
    }
    if (!existsSync(CHROMIUM)) throw new Error(`no browser at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM_PATH)`);
    upstream = await startUpstream();
    gw = await startTestGateway({ config: { upstreams: [{ slug: 'u', url: upstream.url }] } });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
  });
  afterAll(async () => {
    await browser?.close();
    await gw?.close();
    await upstream?.close();
    gw?.cleanup();
  });

  it('serves the built console, whose Settings page shows the gateway healthy with its issuer and scopes, under the strict CSP', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('console', (m) => {
      // Chromium logs the API's 4xx answers to fetch() as errors; the admin API may not be in this
      // tree yet (404). Script errors and CSP refusals are what this test is about.
      if (m.type() === 'error' && !m.text().startsWith('Failed to load resource: the server responded with a status of 404')) errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${gw.config.publicUrl}/login`);
    await page.fill('#email', ADMIN.email);
    await page.fill('#password', ADMIN.password);
    await Promise.all([page.waitForURL((u) => u.pathname.startsWith('/admin/')), page.click('button[type=submit]')]);
    const res = await page.goto(`${gw.config.publicUrl}/admin/settings`);
    expect(res?.status()).toBe(200);
    expect(res?.headers()['content-security-policy']).toContain("script-src 'self'");
    const status = page.getByTestId('gateway-status');
    await status.getByText('healthy', { exact: true }).waitFor();
    await status.getByText(gw.config.publicUrl, { exact: true }).waitFor();
    expect(await status.locator('code.scope').allTextContents()).toEqual(['mcp:read', 'mcp:tools']);
    await page.screenshot({ path: join(tmpdir(), 'gatehouse-admin.png') });
    expect(errors).toEqual([]);
  });

  it('the login page works in the browser: a wrong password shows the generic message', async () => {
    const page = await browser.newPage();
    await page.goto(`${gw.config.publicUrl}/login`);
    await page.fill('#email', 'someone@example.test');
    await page.fill('#password', 'wrong');
    await page.click('button[type=submit]');
    await page.getByText('Wrong email or password.').waitFor();
  });
});
