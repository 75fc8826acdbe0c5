import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Browser, chromium } from 'playwright-core';
import { RunningUpstream, startUpstream } from '../fixtures/upstream-mcp-server';
import { ADMIN, startTestGateway, TestGateway } from '../helpers/gateway';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ROOT = join(__dirname, '..', '..');

describe('My access shows the bundle: one connector URL for every MCP server the user may use', () => {
  let upstream: RunningUpstream;
  let gw: TestGateway;
  let browser: Browser;

  beforeAll(async () => {
    if (!existsSync(join(ROOT, 'dist', 'web', 'index.html'))) throw new Error('dist/web is missing: run `npm run build:web` (npm test does it first)');
    upstream = await startUpstream();
    gw = await startTestGateway({
      config: {
        upstreams: [
          { slug: 'notes', name: 'Notes', url: upstream.url },
          { slug: 'wiki', name: 'Wiki', url: upstream.url },
        ],
      },
    });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'] });
  });
  afterAll(async () => {
    await browser?.close();
    await gw?.close();
    await upstream?.close();
    gw?.cleanup();
  });

  it('offers <PUBLIC_URL>/mcp to copy, beside each server’s own URL', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${gw.config.publicUrl}/login`);
    await page.fill('#email', ADMIN.email);
    await page.fill('#password', ADMIN.password);
    await Promise.all([page.waitForURL((u) => u.pathname.startsWith('/admin/')), page.click('button[type=submit]')]);
    await page.goto(`${gw.config.publicUrl}/admin/me`);
    await page.getByRole('heading', { name: 'One URL for everything' }).waitFor();
    expect(await page.inputValue('#mcp-url-bundle')).toBe(`${gw.config.publicUrl}/mcp`);
    expect(await page.inputValue('#mcp-url-notes')).toBe(`${gw.config.publicUrl}/mcp/notes`);
    await context.close();
  });

  it('Bundles: an admin creates, edits and deletes a named bundle', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${gw.config.publicUrl}/login`);
    await page.fill('#email', ADMIN.email);
    await page.fill('#password', ADMIN.password);
    await Promise.all([page.waitForURL((u) => u.pathname.startsWith('/admin/')), page.click('button[type=submit]')]);
    await page.goto(`${gw.config.publicUrl}/admin/bundles`);
    await page.getByRole('button', { name: 'New bundle' }).click();
    await page.fill('#bundle-name', 'work');
    await page.getByLabel('Notes').check();
    await page.getByLabel('Wiki').check();
    await page.getByRole('button', { name: 'Create bundle' }).click();
    await page.locator('#bundle-url-work').waitFor();
    expect(await page.inputValue('#bundle-url-work')).toBe(`${gw.config.publicUrl}/mcp/b/work`);
    await page.getByRole('button', { name: 'Edit' }).click();
    await page.getByLabel('Wiki').uncheck();
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText('Bundle “work” saved.').waitFor();
    const saved = (await (await context.request.get(`${gw.config.publicUrl}/admin/api/bundles/work`)).json()) as { bundle: { upstreams: unknown[] } };
    expect(saved.bundle.upstreams).toEqual([{ slug: 'notes', name: 'Notes' }]);
    await page.getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
    await page.getByText('No bundles yet.').waitFor();
    expect((await fetch(`${gw.config.publicUrl}/.well-known/oauth-protected-resource/mcp/b/work`)).status).toBe(404);
    expect(errors).toEqual([]);
    await context.close();
  });
});
