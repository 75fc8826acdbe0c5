import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { AuditService } from '../../server/src/audit/audit.service';
import { UsersService } from '../../server/src/identity/users.service';
import { RunningUpstream, startUpstream } from '../fixtures/upstream-mcp-server';
import { ADMIN, startTestGateway, TestGateway } from '../helpers/gateway';
import { connectWithOAuth } from '../helpers/oauth-client';

const MEMBER = { email: 'member@example.test', password: 'member password 123' };

/** The bundle (/mcp) under the real tool policy of tool-policy/: what /mcp/{slug} refuses, the bundle refuses too. */
describe('the bundle applies the per-tool policy of each upstream', () => {
  let notes: RunningUpstream;
  let crm: RunningUpstream;
  let gw: TestGateway;
  const clients: Client[] = [];

  beforeAll(async () => {
    notes = await startUpstream();
    crm = await startUpstream();
    gw = await startTestGateway({
      config: {
        upstreams: [
          // echo of notes is for admins' group only; crm has no rules.
          {
            slug: 'notes',
            url: notes.url,
            tools: {
              rules: [
                { effect: 'allow', tools: ['echo'], users: [ADMIN.email] },
                { effect: 'deny', tools: ['echo'] },
              ],
            },
          },
          { slug: 'crm', url: crm.url },
        ],
      },
    });
    await gw.app.get(UsersService).create(MEMBER);
  });
  afterAll(async () => {
    for (const c of clients) await c.close().catch(() => undefined);
    await gw?.close();
    gw?.cleanup();
    await notes?.close();
    await crm?.close();
  });

  async function connect(creds: typeof MEMBER) {
    const { client } = await connectWithOAuth(`${gw.config.publicUrl}/mcp`, creds);
    clients.push(client);
    return client;
  }

  it('hides a denied tool from the list and refuses its call before the upstream, with its audit row', async () => {
    const member = await connect(MEMBER);
    const names = (await member.listTools()).tools.map((t) => t.name);
    expect(names).not.toContain('notes__echo');
    expect(names).toEqual(expect.arrayContaining(['notes__whoami', 'crm__echo']));

    const seenBefore = notes.seen.filter((r) => r.method === 'POST').length;
    await expect(member.callTool({ name: 'notes__echo', arguments: { text: 'x' } })).rejects.toMatchObject({ code: -32602 });
    // The upstream never saw a tools/call for it (only what the SDK client of the bundle sent before).
    expect(notes.seen.filter((r) => r.method === 'POST').length).toBe(seenBefore);
    const crmEcho = await member.callTool({ name: 'crm__echo', arguments: { text: 'fine' } });
    expect(crmEcho.content).toEqual([{ type: 'text', text: 'fine' }]);

    const audit = gw.app.get(AuditService);
    const member_ = await gw.app.get(UsersService).findByEmail(MEMBER.email);
    let rows: Awaited<ReturnType<AuditService['list']>> = [];
    for (let i = 0; i < 100 && !rows.some((r) => r.type === 'mcp.tool.denied'); i++) {
      await new Promise((r) => setTimeout(r, 25));
      rows = await audit.list({ limit: 200 });
    }
    expect(rows.find((r) => r.type === 'mcp.tool.denied')).toMatchObject({ upstreamSlug: 'notes', tool: 'echo', userId: member_!.id, outcome: 'failure' });
  });

  it('leaves a caller the rules allow unaffected', async () => {
    const admin = await connect(ADMIN);
    const names = (await admin.listTools()).tools.map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(['notes__echo', 'crm__echo']));
    const res = await admin.callTool({ name: 'notes__echo', arguments: { text: 'allowed' } });
    expect(res.content).toEqual([{ type: 'text', text: 'allowed' }]);
  });
});
