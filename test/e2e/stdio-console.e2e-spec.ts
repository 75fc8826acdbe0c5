import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Browser, chromium } from 'playwright-core';
import { UsersService } from '../../server/src/identity/users.service';
import { ADMIN, startTestGateway, TestGateway } from '../helpers/gateway';
import { connectWithOAuth } from '../helpers/oauth-client';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ROOT = join(__dirname, '..', '..');
const FIXTURE = join(ROOT, 'test', 'fixtures', 'stdio-mcp-server.ts');
const ALICE = { email: 'alice@example.test', password: 'alice password 123' };

describe("the console's upstream page shows a stdio upstream's process (Debian chromium)", () => {
  let gw: TestGateway;
  let browser: Browser;

  beforeAll(async () => {
    if (!existsSync(join(ROOT, 'dist', 'web', 'index.html'))) throw new Error('dist/web is missing: run `npm run build:web` (npm test does it first)');
    gw = await startTestGateway({
      config: {
        upstreams: [
          {
            slug: 'tools',
            transport: 'stdio',
            command: process.execPath,
            args: ['--require', 'ts-node/register/transpile-only', FIXTURE],
            cwd: ROOT,
            env: { TS_NODE_PROJECT: join(ROOT, 'tsconfig.json'), NODE_PATH: join(ROOT, 'node_modules'), SOME_TOKEN: 'never-shown-value' },
          },
        ],
      },
    });
    await gw.app.get(UsersService).create(ALICE);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--no-first-run'] });
  });
  afterAll(async () => {
    await browser?.close();
    await gw?.close();
    gw?.cleanup();
  });

  it('command, env names, state, restarts and the last stderr lines; never an env value', async () => {
    const { client } = await connectWithOAuth(gw.mcpUrl('tools'), ALICE);
    const pid = (await client.callTool({ name: 'pid', arguments: {} })).content as Array<{ text: string }>;
    const page = await browser.newPage();
    try {
      await page.goto(`${gw.config.publicUrl}/login`);
      await page.fill('#email', ADMIN.email);
      await page.fill('#password', ADMIN.password);
      await Promise.all([page.waitForURL((u) => u.pathname.startsWith('/admin/')), page.click('button[type=submit]')]);
      await page.goto(`${gw.config.publicUrl}/admin/upstreams/tools`);
      await page.getByRole('heading', { name: 'Process (stdio)' }).waitFor();
      await page.getByLabel('Last stderr lines').waitFor();
      const text = await page.locator('main').innerText();
      expect(text).toContain('SOME_TOKEN');
      expect(text).not.toContain('never-shown-value');
      expect(text).toContain(`pid ${pid[0].text}`);
      expect(await page.getByLabel('Last stderr lines').innerText()).toContain(`stdio fixture ${pid[0].text} started`);
    } finally {
      await page.close();
      await client.close();
    }
  });

  it('the upstream form adds a stdio upstream: transport, command, args and instances', async () => {
    const page = await browser.newPage();
    try {
      await page.goto(`${gw.config.publicUrl}/login`);
      await page.fill('#email', ADMIN.email);
      await page.fill('#password', ADMIN.password);
      await Promise.all([page.waitForURL((u) => u.pathname.startsWith('/admin/')), page.click('button[type=submit]')]);
      await page.goto(`${gw.config.publicUrl}/admin/upstreams/+new`);
      await page.locator('#up-slug').fill('from-form');
      await page.locator('#up-name').fill('From the form');
      await page.locator('#up-transport').selectOption('stdio');
      await page.locator('#up-url').waitFor({ state: 'detached' });
      await page.locator('#up-command').fill(process.execPath);
      await page.locator('#up-args').fill('--version');
      await page.getByRole('button', { name: 'Add to Arguments' }).click();
      await page.locator('#up-instances').selectOption('shared');
      await page.getByRole('button', { name: 'Add upstream' }).click();
      await page.getByRole('heading', { name: 'Process (stdio)' }).waitFor();
      const text = await page.locator('main').innerText();
      expect(text).toContain(`${process.execPath} --version`);
      expect(text).toContain('one shared process');
    } finally {
      await page.close();
    }
  });
});
