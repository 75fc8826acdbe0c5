import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { ConfigError, loadConfig } from '../../server/src/config/config.loader';
import { anyToolsListResult, responseTo, rewritePayload, SseToolsListRewriter, ToolsListUnreadable } from '../../server/src/proxy/tools-list-rewrite';
import { compileRules, decideAmong, globToRegExp, normalizeRules, ruleProblems, rulesFor, ToolRule } from '../../server/src/tool-policy/tool-rule';

const rule = (r: Partial<ToolRule> & Pick<ToolRule, 'effect' | 'tools'>): ToolRule => ({ users: [], groups: [], ...r });
const decide = (rules: ToolRule[], caller: { userId: string; email?: string; groupIds: string[] }, tool: string) => decideAmong(rulesFor(compileRules(rules), caller), tool);

describe('tool rules', () => {
  it('matches globs on the whole name, with regex characters taken literally', () => {
    expect(globToRegExp('search_*').test('search_docs')).toBe(true);
    expect(globToRegExp('search_*').test('research_docs')).toBe(false);
    expect(globToRegExp('a.b?').test('a.bc')).toBe(true);
    expect(globToRegExp('a.b?').test('axbc')).toBe(false);
    expect(globToRegExp('*').test('anything')).toBe(true);
  });

  it('lets the first matching rule decide, allows by default, and applies rules to users, groups or everyone', () => {
    const rules = [
      rule({ effect: 'allow', tools: ['delete_doc'], users: ['u-admin'] }),
      rule({ effect: 'deny', tools: ['delete_*'], groups: ['contractors'] }),
      rule({ effect: 'deny', tools: ['drop_table'] }),
      rule({ effect: 'allow', tools: ['drop_table'] }),
    ];
    const contractor = { userId: 'u-1', groupIds: ['contractors'] };
    expect(decide(rules, contractor, 'delete_doc')).toMatchObject({ allowed: false, rule: { position: 2 } });
    expect(decide(rules, { ...contractor, userId: 'u-admin' }, 'delete_doc')).toMatchObject({ allowed: true, rule: { position: 1 } });
    expect(decide(rules, { userId: 'u-2', groupIds: [] }, 'delete_doc')).toEqual({ allowed: true });
    expect(decide(rules, { userId: 'u-2', groupIds: [] }, 'drop_table')).toMatchObject({ allowed: false, rule: { position: 3 } });
    expect(decide(rules, { userId: 'u-2', groupIds: [] }, 'search')).toEqual({ allowed: true });
  });

  it('names users by id or by email, case-insensitively', () => {
    const rules = normalizeRules([{ effect: 'deny', tools: ['x'], users: ['Bob@Example.TEST'] }]);
    expect(decide(rules, { userId: 'b', email: 'bob@example.test', groupIds: [] }, 'x').allowed).toBe(false);
    expect(decide(rules, { userId: 'c', email: 'carol@example.test', groupIds: [] }, 'x').allowed).toBe(true);
  });

  it('names each bad field of a rule list', () => {
    expect(ruleProblems('no')).toEqual({ rules: expect.any(String) });
    expect(ruleProblems([{ effect: 'allow', tools: ['ok_*'] }])).toEqual({});
    expect(
      ruleProblems([
        { effect: 'permit', tools: [], users: 'x', extra: 1 },
        { effect: 'deny', tools: ['bad name'] },
      ]),
    ).toEqual({
      'rules[0].effect': expect.any(String),
      'rules[0].tools': expect.any(String),
      'rules[0].users': expect.any(String),
      'rules[0].extra': expect.any(String),
      'rules[1].tools[0]': expect.any(String),
    });
  });
});

describe('tools/list rewriting', () => {
  const keepSearch = (tools: Array<{ name: string }>) => tools.filter((t) => t.name.startsWith('search'));
  const list = (id: unknown) => ({ jsonrpc: '2.0', id, result: { tools: [{ name: 'search_a' }, { name: 'delete_b' }], nextCursor: 'c' } });

  it('filters the matching response of a JSON payload or batch, and leaves other payloads alone', () => {
    const out = rewritePayload(JSON.stringify([list(1), list(2)]), responseTo(new Set([2])), keepSearch);
    expect(JSON.parse(out!.text)).toEqual([list(1), { ...list(2), result: { tools: [{ name: 'search_a' }], nextCursor: 'c' } }]);
    expect(out!.answered).toEqual([2]);
    expect(rewritePayload(JSON.stringify(list(1)), responseTo(new Set([7])), keepSearch)).toBeNull();
    expect(() => rewritePayload('{"jsonrpc":', responseTo(new Set([1])), keepSearch)).toThrow(ToolsListUnreadable);
  });

  async function throughRewriter(chunks: string[], matcher = responseTo(new Set([5])), awaited: Set<unknown> | null = new Set([5])): Promise<string> {
    const out: Buffer[] = [];
    const stream = Readable.from(chunks.map((c) => Buffer.from(c))).pipe(new SseToolsListRewriter(matcher, keepSearch, awaited));
    for await (const chunk of stream) out.push(chunk as Buffer);
    return Buffer.concat(out).toString();
  }

  it('rewrites the SSE event answering the tools/list, split anywhere, and passes other events byte for byte', async () => {
    const progress = 'event: message\r\ndata: {"jsonrpc":"2.0","method":"notifications/progress","params":{"tools":"é"}}\r\n\r\n';
    const answer = `id: 42\nevent: message\ndata: ${JSON.stringify(list(5))}\n\n`;
    const whole = progress + answer + ': trailing comment\n\n';
    for (const cut of [1, 7, progress.length - 1, progress.length + 3, whole.length - 2]) {
      const out = await throughRewriter([whole.slice(0, cut), whole.slice(cut)]);
      expect(out.startsWith(progress)).toBe(true);
      expect(out).toContain(`id: 42\nevent: message\ndata: ${JSON.stringify({ ...list(5), result: { tools: [{ name: 'search_a' }], nextCursor: 'c' } })}\n\n`);
      expect(out).not.toContain('delete_b');
      expect(out.endsWith(': trailing comment\n\n')).toBe(true);
    }
  });

  it('on a GET stream, filters any replayed tools/list result', async () => {
    const out = await throughRewriter([`data: ${JSON.stringify(list('old'))}\n\n`], anyToolsListResult, null);
    expect(out).not.toContain('delete_b');
    expect(out).toContain('search_a');
  });

  it('refuses an event too large to read rather than pass it unfiltered', async () => {
    await expect(throughRewriter([`data: "${'x'.repeat(17 * 1024 * 1024)}`])).rejects.toThrow(ToolsListUnreadable);
  });
});

describe('tools in config.yaml', () => {
  const load = (tools: unknown) => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-tools-'));
    try {
      writeFileSync(join(dir, 'c.yaml'), JSON.stringify({ upstreams: [{ slug: 'a', url: 'http://127.0.0.1:1/mcp', tools }] }));
      return loadConfig({ GATEHOUSE_CONFIG: join(dir, 'c.yaml') });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  const problem = (tools: unknown) => {
    try {
      load(tools);
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return (err as ConfigError).key;
    }
    throw new Error('expected a ConfigError');
  };

  it('reads rules and pinning, and names the bad key', () => {
    expect(load({ rules: [{ effect: 'deny', tools: ['delete_*'], groups: ['g'] }], pinning: 'quarantine' }).upstreams[0].tools).toMatchObject({
      rules: [{ effect: 'deny', tools: ['delete_*'], users: [], groups: ['g'] }],
      pinning: 'quarantine',
    });
    expect(problem({ pinning: 'strict' })).toBe('upstreams[0].tools.pinning');
    expect(
      problem({
        rules: [
          { effect: 'deny', tools: ['x'] },
          { effect: 'maybe', tools: ['y'] },
        ],
      }),
    ).toBe('upstreams[0].tools.rules[1].effect');
    expect(problem({ rules: [{ effect: 'deny', tools: ['x'], who: 'me' }] })).toBe('upstreams[0].tools.rules[0].who');
  });
});
