import { join } from 'node:path';
import { UsersService } from '../../server/src/identity/users.service';
import { SpawnedUpstreamsService } from '../../server/src/upstreams/transports/spawned-upstreams.service';
import { UpstreamsService } from '../../server/src/upstreams/upstreams.service';
import { adminApi, signInToConsole } from '../helpers/admin-api';
import { ADMIN, startTestGateway, TestGateway } from '../helpers/gateway';
import { connectWithOAuth, ConnectWithOAuthResult } from '../helpers/oauth-client';

const ROOT = join(__dirname, '..', '..');
/** The HTTP fixture run as a script: it listens on the port the gateway puts in place of {port}. */
const HTTP_FIXTURE = join(ROOT, 'test', 'fixtures', 'upstream-mcp-server.ts');
const ALICE = { email: 'alice@example.test', password: 'alice password 123' };
const KEY = 'spawned-upstream-key-41';

const textOf = (res: unknown) => (res as { content: Array<{ text: string }> }).content[0].text;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitFor(what: string, check: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('spawned HTTP upstreams', () => {
  let gw: TestGateway;
  let closed = false;
  const open: ConnectWithOAuthResult[] = [];
  const status = () => gw.app.get(SpawnedUpstreamsService).status(gw.app.get(UpstreamsService).get('spawned')!);

  beforeAll(async () => {
    gw = await startTestGateway({
      config: {
        upstreams: [
          {
            slug: 'spawned',
            transport: 'spawn',
            command: process.execPath,
            args: ['--require', 'ts-node/register/transpile-only', HTTP_FIXTURE, '--port', '{port}'],
            cwd: ROOT,
            env: { TS_NODE_PROJECT: join(ROOT, 'tsconfig.json'), NODE_PATH: join(ROOT, 'node_modules') },
            auth: { mode: 'headers', headers: { 'X-API-Key': KEY } },
          },
        ],
      },
    });
    await gw.app.get(UsersService).create(ALICE);
  });
  afterAll(async () => {
    for (const c of open) await c.client.close().catch(() => undefined);
    if (!closed) await gw?.close();
    gw?.cleanup();
  });

  it('starts with the gateway, health-checked before the first probe', () => {
    expect(status()).toMatchObject({ state: 'running', running: 1, restarts: 0 });
    const probe = gw.probes.find((p) => p.slug === 'spawned')!;
    expect(probe).toMatchObject({ reachable: true, url: `http://127.0.0.1:${status().port}/mcp` });
  });

  it('proxies tools like any HTTP upstream, with the auth mode credential', async () => {
    const c = await connectWithOAuth(gw.mcpUrl('spawned'), ALICE);
    open.push(c);
    expect(textOf(await c.client.callTool({ name: 'echo', arguments: { text: 'via spawn' } }))).toBe('via spawn');
    expect(textOf(await c.client.callTool({ name: 'whoami', arguments: {} }))).toBe(KEY);
  });

  it('is restarted with backoff after a crash, on the same port, and proxies again', async () => {
    const before = status();
    process.kill(before.pids[0], 'SIGKILL');
    await waitFor('the restart', () => status().restarts === 1 && status().state === 'running');
    expect(status().port).toBe(before.port);
    expect(status().lastExit).toBe('killed by SIGKILL');
    expect(status().pids[0]).not.toBe(before.pids[0]);
    const c = await connectWithOAuth(gw.mcpUrl('spawned'), ALICE, { provider: open[0].provider, browser: open[0].browser });
    open.push(c);
    expect(textOf(await c.client.callTool({ name: 'echo', arguments: { text: 'after restart' } }))).toBe('after restart');
  });

  it('the admin API shows its process and tests the connection at its loopback port', async () => {
    const api = adminApi(gw.config.publicUrl, await signInToConsole(gw.config.publicUrl, ADMIN));
    expect((await api('GET', '/upstreams/spawned/processes')).json.processes).toMatchObject({ state: 'running', restarts: 1, port: status().port });
    const tested = await api('POST', '/upstreams/spawned/test');
    expect(tested.json).toMatchObject({ ok: true, serverInfo: { name: 'gatehouse-test-upstream' } });
  });

  it('stops its child at shutdown', async () => {
    const pid = status().pids[0];
    expect(alive(pid)).toBe(true);
    // The clients first: an SDK client whose stream the gateway cuts keeps reconnect timers.
    for (const c of open.splice(0)) await c.client.close();
    closed = true;
    await gw.close();
    expect(alive(pid)).toBe(false);
  });
});
