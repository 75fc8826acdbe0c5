import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { AuditService } from '../../server/src/audit/audit.service';
import { UsersService } from '../../server/src/identity/users.service';
import { ADMIN, startTestGateway, TestGateway } from '../helpers/gateway';
import { connectWithOAuth } from '../helpers/oauth-client';

const ROOT = join(__dirname, '..', '..');
const FIXTURE = join(ROOT, 'test', 'fixtures', 'stdio-mcp-server.ts');
const MEMBER = { email: 'member@example.test', password: 'member password 123' };

/** A stdio upstream answers tools/list from its process, not through the HTTP proxy: the tool policy must hold there too. */
describe('stdio upstreams under the per-tool policy', () => {
  let gw: TestGateway;
  const clients: Client[] = [];

  beforeAll(async () => {
    gw = await startTestGateway({
      config: {
        upstreams: [
          {
            slug: 'local',
            transport: 'stdio',
            command: process.execPath,
            args: ['--require', 'ts-node/register/transpile-only', FIXTURE],
            cwd: ROOT,
            env: { TS_NODE_PROJECT: join(ROOT, 'tsconfig.json'), NODE_PATH: join(ROOT, 'node_modules') },
            instances: 'shared',
            // echo is the admin's only; everyone else is denied it.
            tools: {
              rules: [
                { effect: 'allow', tools: ['echo'], users: [ADMIN.email] },
                { effect: 'deny', tools: ['echo'] },
              ],
            },
          },
        ],
      },
    });
    await gw.app.get(UsersService).create(MEMBER);
  });
  afterAll(async () => {
    for (const c of clients) await c.close().catch(() => undefined);
    await gw?.close();
    gw?.cleanup();
  });

  async function connect(creds: typeof MEMBER) {
    const { client } = await connectWithOAuth(gw.mcpUrl('local'), creds);
    clients.push(client);
    return client;
  }

  it("filters the process's tools/list for a denied member and refuses the call, with its audit row", async () => {
    const member = await connect(MEMBER);
    const names = (await member.listTools()).tools.map((t) => t.name);
    expect(names).not.toContain('echo');
    expect(names).toContain('pid');
    const refused = await member.callTool({ name: 'echo', arguments: { text: 'x' } }).catch((err: unknown) => err);
    // The gateway answers the call itself with the MCP "unknown tool" error.
    expect(JSON.stringify(refused)).toMatch(/-32602|not available to you/);
    const audit = gw.app.get(AuditService);
    let rows = await audit.list({ limit: 200 });
    for (let i = 0; i < 100 && !rows.some((r) => r.type === 'mcp.tool.denied'); i++) {
      await new Promise((r) => setTimeout(r, 25));
      rows = await audit.list({ limit: 200 });
    }
    expect(rows.find((r) => r.type === 'mcp.tool.denied')).toMatchObject({ upstreamSlug: 'local', tool: 'echo', outcome: 'failure' });
  });

  it('leaves the admin, whom the rules allow, the whole list on the same shared process', async () => {
    const admin = await connect(ADMIN);
    const names = (await admin.listTools()).tools.map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(['echo', 'pid']));
    const res = await admin.callTool({ name: 'echo', arguments: { text: 'allowed' } });
    expect(res.content).toEqual([{ type: 'text', text: 'allowed' }]);
    // Its audit row names the tool and digests the arguments, as for an HTTP upstream (never the values).
    const audit = gw.app.get(AuditService);
    let row = (await audit.list({ limit: 200 })).find((r) => r.type === 'mcp.request' && r.tool === 'echo' && r.outcome === 'success');
    for (let i = 0; i < 100 && !row; i++) {
      await new Promise((r) => setTimeout(r, 25));
      row = (await audit.list({ limit: 200 })).find((r) => r.type === 'mcp.request' && r.tool === 'echo' && r.outcome === 'success');
    }
    expect(row).toMatchObject({ upstreamSlug: 'local', toolArguments: { of: 'arguments', digest: expect.stringMatching(/^[0-9a-f]{32}$/) } });
    expect(JSON.stringify(row)).not.toContain('allowed');
  });
});
