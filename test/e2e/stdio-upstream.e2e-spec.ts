import { join } from 'node:path';
import { UsersService } from '../../server/src/identity/users.service';
import { StdioBridgeService } from '../../server/src/upstreams/transports/stdio-bridge.service';
import { UpstreamsService } from '../../server/src/upstreams/upstreams.service';
import { adminApi, signInToConsole } from '../helpers/admin-api';
import { ADMIN, startTestGateway, TestGateway } from '../helpers/gateway';
import { connectWithOAuth, ConnectWithOAuthResult } from '../helpers/oauth-client';
import { initializeRequest, mcpPost } from '../helpers/raw-oauth';

const ROOT = join(__dirname, '..', '..');
const FIXTURE = join(ROOT, 'test', 'fixtures', 'stdio-mcp-server.ts');
const ALICE = { email: 'alice@example.test', password: 'alice password 123' };
const BOB = { email: 'bob@example.test', password: 'bob password 456' };

/** A stdio upstream running the fixture with ts-node; the two variables ts-node needs are listed (nothing else of the gateway's env goes in). */
function stdioUpstream(slug: string, extra: Record<string, unknown> = {}) {
  const { env, ...rest } = extra as { env?: Record<string, string> };
  return {
    slug,
    transport: 'stdio',
    command: process.execPath,
    args: ['--require', 'ts-node/register/transpile-only', FIXTURE],
    cwd: ROOT,
    env: { TS_NODE_PROJECT: join(ROOT, 'tsconfig.json'), NODE_PATH: join(ROOT, 'node_modules'), ...env },
    ...rest,
  };
}

const textOf = (res: unknown) => ((res as { content: Array<{ text: string }> }).content[0] ?? { text: '' }).text;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitFor(what: string, check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('stdio upstreams', () => {
  let gw: TestGateway;
  let closed = false;
  const open: ConnectWithOAuthResult[] = [];
  const connect = async (slug: string, who = ALICE, extraConsentFields?: Record<string, string>, reuse?: ConnectWithOAuthResult) => {
    const c = await connectWithOAuth(gw.mcpUrl(slug), who, { extraConsentFields, provider: reuse?.provider, browser: reuse?.browser });
    open.push(c);
    return c;
  };
  const status = (slug: string) => gw.app.get(StdioBridgeService).status(gw.app.get(UpstreamsService).get(slug)!);

  beforeAll(async () => {
    // In the gateway's own environment (the test runs it in process): it must not reach any process.
    process.env.GATEHOUSE_TEST_LEAK = 'gateway-only-secret';
    gw = await startTestGateway({
      config: {
        upstreams: [
          stdioUpstream('tools', { env: { EXTRA: 'listed-value' }, timeout: 5 }),
          stdioUpstream('idle', { idle_timeout: 1 }),
          stdioUpstream('capped', { max_processes: 1 }),
          stdioUpstream('shared', { instances: 'shared' }),
          stdioUpstream('personal', {
            auth: { mode: 'user_credentials', fields: [{ name: 'api_key', label: 'API key', secret: true }], headers: { API_KEY: '{{api_key}}' } },
          }),
        ],
      },
    });
    await gw.app.get(UsersService).create(ALICE);
    await gw.app.get(UsersService).create(BOB);
  });
  afterAll(async () => {
    for (const c of open) await c.client.close().catch(() => undefined);
    if (!closed) await gw?.close();
    gw?.cleanup();
    delete process.env.GATEHOUSE_TEST_LEAK;
  });

  it('serves the process tools to the SDK client through /mcp/{slug}, with a minimal environment and its stderr captured', async () => {
    const { client } = await connect('tools');
    const tools = await client.listTools();
    expect(tools.tools.map((t) => t.name)).toEqual(expect.arrayContaining(['echo', 'pid', 'env', 'crash', 'count']));
    expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'through stdio' } }))).toBe('through stdio');
    expect(textOf(await client.callTool({ name: 'env', arguments: { name: 'EXTRA' } }))).toBe('listed-value');
    expect(textOf(await client.callTool({ name: 'env', arguments: { name: 'GATEHOUSE_TEST_LEAK' } }))).toBe('(unset)');
    expect(textOf(await client.callTool({ name: 'env', arguments: { name: 'GATEHOUSE_ADMIN_PASSWORD' } }))).toBe('(unset)');
    expect(textOf(await client.callTool({ name: 'env', arguments: { name: 'HOME' } }))).toBe(join(gw.dataDir, 'processes', 'tools'));
    // Progress notifications find their request (the progress token is rewritten there and back).
    const progress: number[] = [];
    const counted = await client.callTool({ name: 'count', arguments: { n: 3 } }, undefined, { onprogress: (p) => progress.push(p.progress) });
    expect(textOf(counted)).toBe('counted 3');
    expect(progress).toEqual([1, 2, 3]);
    const pid = Number(textOf(await client.callTool({ name: 'pid', arguments: {} })));
    const s = status('tools');
    expect(s.running).toBeGreaterThanOrEqual(1);
    expect(s.stderr).toContain(`[${pid}] stdio fixture ${pid} started`);
  });

  it('a process that dies mid-call gives the client a JSON-RPC error; the next session works with a new process', async () => {
    const first = await connect('tools');
    const pid = Number(textOf(await first.client.callTool({ name: 'pid', arguments: {} })));
    await expect(first.client.callTool({ name: 'crash', arguments: {} })).rejects.toThrow(/process of tools exited with code 3; start a new session/);
    await waitFor('the crashed process to be gone', () => !alive(pid));
    // Its session ended with it.
    await expect(first.client.callTool({ name: 'pid', arguments: {} })).rejects.toThrow();
    expect(status('tools').lastExit).toBe('exited with code 3');
    expect(status('tools').stderr).toContain(`[${pid}] crashing on request`);

    const next = await connect('tools', ALICE, undefined, first);
    const newPid = Number(textOf(await next.client.callTool({ name: 'pid', arguments: {} })));
    expect(newPid).not.toBe(pid);

    // Killed from outside while a call is in flight: that call ends with an error too.
    const pending = next.client.callTool({ name: 'wait', arguments: { ms: 30_000 } });
    await new Promise((r) => setTimeout(r, 200));
    process.kill(newPid, 'SIGKILL');
    await expect(pending).rejects.toThrow(/process of tools killed by SIGKILL/);
  });

  it('stops a process after idle_timeout without requests', async () => {
    const { client } = await connect('idle');
    const pid = Number(textOf(await client.callTool({ name: 'pid', arguments: {} })));
    expect(alive(pid)).toBe(true);
    await waitFor('the idle process to stop', () => !alive(pid));
    expect(status('idle').running).toBe(0);
  });

  it('answers 429 with a clear message when max_processes are running; a session ending frees its place', async () => {
    const a = await connect('capped');
    await a.client.listTools();
    const token = a.provider.tokens()!.access_token;
    const full = await mcpPost(gw.mcpUrl('capped'), token, initializeRequest(7));
    expect(full.status).toBe(429);
    expect(full.headers.get('retry-after')).toBe('30');
    expect(full.json).toEqual({ jsonrpc: '2.0', id: 7, error: { code: -32004, message: 'capped is at its limit of 1 running sessions; try again later' } });
    await a.transport.terminateSession();
    await waitFor('the session process to stop', () => status('capped').running === 0);
    const again = await mcpPost(gw.mcpUrl('capped'), token, initializeRequest(8));
    expect(again.status).toBe(200);
    await mcpPost(gw.mcpUrl('capped'), token, { jsonrpc: '2.0', method: 'notifications/initialized' }, { 'mcp-session-id': again.headers.get('mcp-session-id')! });
  });

  it("per-user credentials reach each user's own per-session process, and a session is its user's only", async () => {
    const a = await connect('personal', ALICE, { cred_api_key: 'alice-key-1' });
    const b = await connect('personal', BOB, { cred_api_key: 'bob-key-2' });
    expect(textOf(await a.client.callTool({ name: 'env', arguments: { name: 'API_KEY' } }))).toBe('alice-key-1');
    expect(textOf(await b.client.callTool({ name: 'env', arguments: { name: 'API_KEY' } }))).toBe('bob-key-2');
    // Bob's valid token does not open Alice's session.
    const bobToken = b.provider.tokens()!.access_token;
    const stolen = await mcpPost(gw.mcpUrl('personal'), bobToken, { jsonrpc: '2.0', id: 3, method: 'tools/list' }, { 'mcp-session-id': a.transport.sessionId! });
    expect(stolen.status).toBe(404);
    expect(stolen.json).toEqual({ jsonrpc: '2.0', id: 3, error: { code: -32001, message: 'Session not found' } });
  });

  it('a shared process serves every session, and is restarted with backoff after a crash', async () => {
    const a = await connect('shared');
    const b = await connect('shared', BOB);
    const pid = Number(textOf(await a.client.callTool({ name: 'pid', arguments: {} })));
    expect(Number(textOf(await b.client.callTool({ name: 'pid', arguments: {} })))).toBe(pid);
    expect(textOf(await b.client.callTool({ name: 'echo', arguments: { text: 'b' } }))).toBe('b');
    // Requests of both sessions in flight at once, with the same JSON-RPC id (each client has now sent
    // initialize, pid and echo): each answer reaches its own session.
    expect(textOf(await a.client.callTool({ name: 'echo', arguments: { text: 'a' } }))).toBe('a');
    const [slowA, fastB] = await Promise.all([a.client.callTool({ name: 'wait', arguments: { ms: 300 } }), b.client.callTool({ name: 'wait', arguments: { ms: 10 } })]);
    expect([textOf(slowA), textOf(fastB)]).toEqual(['waited 300', 'waited 10']);
    await expect(a.client.callTool({ name: 'crash', arguments: {} })).rejects.toThrow(/exited with code 3/);
    await waitFor('the shared process to restart', () => status('shared').restarts === 1 && status('shared').running === 1);
    const c = await connect('shared', ALICE, undefined, a);
    const newPid = Number(textOf(await c.client.callTool({ name: 'pid', arguments: {} })));
    expect(newPid).not.toBe(pid);
    expect(alive(newPid)).toBe(true);
  });

  it('the admin API shows the process settings (env names, never values), its state and stderr to admins, and tests the connection', async () => {
    const api = adminApi(gw.config.publicUrl, await signInToConsole(gw.config.publicUrl, ADMIN));
    const view = await api('GET', '/upstreams/tools');
    expect(view.json).toMatchObject({
      transport: 'stdio',
      url: '',
      process: { command: process.execPath, instances: 'per_session', envNames: ['EXTRA', 'NODE_PATH', 'TS_NODE_PROJECT'] },
    });
    expect(view.text).not.toContain('listed-value');
    const processes = await api('GET', '/upstreams/tools/processes');
    expect(processes.status).toBe(200);
    expect(processes.json.processes).toMatchObject({ lastExit: 'killed by SIGKILL', stderr: expect.arrayContaining([expect.stringContaining('crashing on request')]) });
    const tested = await api('POST', '/upstreams/tools/test');
    expect(tested.json).toMatchObject({ ok: true, serverInfo: { name: 'gatehouse-stdio-fixture' } });
    expect(tested.json.tools.map((t: { name: string }) => t.name)).toContain('echo');
    // Auditors read upstreams, but not the processes' stderr (it may hold anything).
    const auditor = { email: 'auditor@example.test', password: 'auditor password 1' };
    await gw.app.get(UsersService).create({ ...auditor, role: 'auditor' });
    const asAuditor = adminApi(gw.config.publicUrl, await signInToConsole(gw.config.publicUrl, auditor));
    expect((await asAuditor('GET', '/upstreams/tools/processes')).status).toBe(403);
  });

  it('stops every process group at shutdown, grandchildren included', async () => {
    const { client } = await connect('tools');
    const pid = Number(textOf(await client.callTool({ name: 'pid', arguments: {} })));
    const grandchild = Number(textOf(await client.callTool({ name: 'grandchild', arguments: {} })));
    expect(alive(grandchild)).toBe(true);
    closed = true;
    await gw.close();
    expect(alive(pid)).toBe(false);
    await waitFor('the grandchild to be gone', () => !alive(grandchild), 5000);
  });
});

describe('stdio upstreams added in the console', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway();
    await gw.app.get(UsersService).create(ALICE);
  });
  afterAll(async () => {
    await gw?.close();
    gw?.cleanup();
  });

  it('an admin defines one (env write-only, every bad field named), and it serves tools', async () => {
    const api = adminApi(gw.config.publicUrl, await signInToConsole(gw.config.publicUrl, ADMIN));
    const bad = await api('POST', '/upstreams', { slug: 'bad', transport: 'stdio', url: 'http://example.com/mcp', env: { 'NO-GOOD': 'x' }, port: 80 });
    expect(bad.status).toBe(400);
    expect(bad.text).toContain('command');
    expect(bad.text).toContain('env.NO-GOOD');
    const created = await api('POST', '/upstreams', stdioUpstream('console-tools', { env: { SECRET_VALUE: 'only-in-the-vault' } }));
    expect(created.status).toBe(201);
    expect(created.text).not.toContain('only-in-the-vault');
    // An edit leaving the value blank keeps it; a blank for a new name is refused.
    expect((await api('PATCH', '/upstreams/console-tools', { env: { SECRET_VALUE: '', NEW_ONE: '' } })).json).toMatchObject({
      fields: { 'env.NEW_ONE': 'needs a value (none is stored yet)' },
    });
    const kept = await api('PATCH', '/upstreams/console-tools', { args: [...stdioUpstream('x').args], env: { SECRET_VALUE: '', TS_NODE_PROJECT: '', NODE_PATH: '' } });
    expect(kept.status).toBe(200);
    const { client } = await connectWithOAuth(gw.mcpUrl('console-tools'), ALICE);
    expect(textOf(await client.callTool({ name: 'env', arguments: { name: 'SECRET_VALUE' } }))).toBe('only-in-the-vault');
    await client.close();
    // Only admins define commands: an auditor's create is refused.
    const auditor = { email: 'auditor2@example.test', password: 'auditor password 2' };
    await gw.app.get(UsersService).create({ ...auditor, role: 'auditor' });
    const asAuditor = adminApi(gw.config.publicUrl, await signInToConsole(gw.config.publicUrl, auditor));
    expect((await asAuditor('POST', '/upstreams', stdioUpstream('sneaky'))).status).toBe(403);
  });
});
