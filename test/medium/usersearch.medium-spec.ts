import { randomUUID } from 'node:crypto';
import 'reflect-metadata';
import { AuditModule } from '../../server/src/audit/audit.module';
import { IdentityModule } from '../../server/src/identity/identity.module';
import { SQLITE_INDEX_DRIVEN_MAX } from '../../server/src/identity/user-search';
import { User } from '../../server/src/identity/user.entity';
import { UserFilter, UsersService } from '../../server/src/identity/users.service';
import { testEngine } from '../helpers/test-database';
import { createNestContext, NestContext } from './nest-context';

/**
 * The console's users search through the trigram index of each engine (identity/user-search.ts;
 * run with GATEHOUSE_TEST_DB=postgres for PostgreSQL): the same users as the substring match it
 * replaces, page by page, and a query plan that reads the index, not every user.
 */
describe(`${testEngine()}: users search`, () => {
  let ctx: NestContext;
  let users: UsersService;
  /** Every user, as the old substring match (email LIKE '%q%' OR LOWER(name) LIKE '%q%', literally) sees them. */
  const all: Pick<User, 'id' | 'email' | 'displayName' | 'role' | 'disabled'>[] = [];
  // More users containing 'seed' than SQLITE_INDEX_DRIVEN_MAX, so that SQLite's walk in email order is tested too.
  const SEEDED = SQLITE_INDEX_DRIVEN_MAX + 100;

  beforeAll(async () => {
    ctx = await createNestContext({ imports: [AuditModule, IdentityModule] });
    users = ctx.app.get(UsersService);
    const rows: User[] = [];
    for (let i = 0; i < SEEDED; i++) {
      rows.push({
        id: randomUUID(),
        email: `user${i}@seed.example`,
        passwordHash: null,
        displayName: `User ${i}`,
        role: i % 7 === 0 ? 'auditor' : 'member',
        disabled: i % 5 === 0,
        createdAt: i,
        lastLoginAt: null,
      });
    }
    const special: [string, string | null][] = [
      ['per%cent@odd.test', 'Dr. Under_Score'],
      ['back\\slash@odd.test', 'Mixed CASE Name'],
      ['quote@odd.test', 'Conan O"Brien'],
      ['under_line@odd.test', null],
      ['plain@odd.test', 'Percy 100% Sure'],
      ['umlaut@odd.test', 'Zoë Wñ'],
    ];
    for (const [email, displayName] of special)
      rows.push({ id: randomUUID(), email, passwordHash: null, displayName, role: 'member', disabled: false, createdAt: 0, lastLoginAt: null });
    // Inserted in one statement per chunk, as a bulk import would: the triggers index each row.
    for (let i = 0; i < rows.length; i += 100) await ctx.db.getRepository(User).insert(rows.slice(i, i + 100));
    all.push(...rows, ...(await ctx.db.getRepository(User).find()).filter((u) => !rows.some((r) => r.id === u.id)));
  }, 120_000);

  afterAll(async () => {
    await ctx?.close();
    ctx?.cleanup();
  });

  /** The expected result: the old semantics, written out in JavaScript. */
  function expected(filter: UserFilter): string[] {
    const q = filter.q?.toLowerCase();
    return all
      .filter((u) => !q || u.email.includes(q) || (u.displayName ?? '').toLowerCase().includes(q))
      .filter((u) => !filter.role || u.role === filter.role)
      .filter((u) => filter.disabled === undefined || u.disabled === filter.disabled)
      .map((u) => u.email)
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /** Every page of the search, following the keyset cursor (afterEmail) as the admin API does. */
  async function allPages(filter: UserFilter, limit: number): Promise<string[]> {
    const seen: string[] = [];
    for (;;) {
      const page = await users.list(filter, { afterEmail: seen.at(-1) ?? null, limit });
      seen.push(...page.map((u) => u.email));
      if (page.length < limit) return seen;
    }
  }

  it.each([
    ['an email substring found by the index', 'user17'],
    ['more matches than the index drives (SQLite walks in email order)', 'seed'],
    ['upper case', 'USER11'],
    ['a name only', 'mixed case'],
    ['a name with a space', 'r 12'],
    ['a literal %', 'r%c'],
    ['a literal % in a name', '100%'],
    ['a literal _ (not any character)', 'er_'],
    ['a literal \\', 'k\\s'],
    ['a double quote', 'o"br'],
    ['a short query (no trigram)', 'r1'],
    ['one character', '%'],
    ['nothing matches', 'zzzq'],
    // Non-ASCII letters in the same case only: SQLite's LIKE and LOWER() fold ASCII letters alone (PostgreSQL's fold all).
    ['non-ASCII letters', 'Zoë w'],
    ['a NUL character (FTS5 ends a string there; PostgreSQL refuses it)', 'us\u0000er'],
  ])('%s (%j): the same users as the substring match, in email order', async (_, q) => {
    const want = expected({ q });
    if (q !== 'zzzq' && !q.includes('\u0000')) expect(want.length).toBeGreaterThan(0);
    expect((await users.list({ q }, { afterEmail: null, limit: 1000 })).map((u) => u.email)).toEqual(want);
  });

  it.each([
    ['user1', 50],
    ['seed', 50],
    ['USER', 37],
  ])('pages of %j (limit %i) follow one another without gaps or repeats', async (q, limit) => {
    const want = expected({ q });
    expect(want.length).toBeGreaterThan(limit * 2);
    expect(await allPages({ q }, limit)).toEqual(want);
  });

  it.each<UserFilter>([
    { q: 'user2', role: 'auditor' },
    { q: 'user2', disabled: true },
    { q: 'seed', role: 'member', disabled: false },
    { q: 'odd.test', disabled: false },
  ])('filters narrow the search: %j', async (filter) => {
    const want = expected(filter);
    expect(want.length).toBeGreaterThan(0);
    expect(await allPages(filter, 20)).toEqual(want);
  });

  it('follows creations, renames and deletions (the index is kept in step)', async () => {
    const created = await users.create({ email: 'newcomer@later.test', displayName: 'Quentin Quasar' });
    expect((await users.list({ q: 'quasar' }, { afterEmail: null, limit: 10 })).map((u) => u.email)).toEqual(['newcomer@later.test']);
    await users.rename(created.id, 'Zebedee Zonk');
    expect(await users.list({ q: 'quasar' }, { afterEmail: null, limit: 10 })).toEqual([]);
    expect((await users.list({ q: 'zonk' }, { afterEmail: null, limit: 10 })).map((u) => u.email)).toEqual(['newcomer@later.test']);
    // A sign-in (last_login_at) and a role change leave the entry as it was.
    await users.touchLogin(created.id);
    await users.setRole(created.id, 'auditor');
    expect((await users.list({ q: 'zonk', role: 'auditor' }, { afterEmail: null, limit: 10 })).map((u) => u.email)).toEqual(['newcomer@later.test']);
    await users.delete(created.id);
    expect(await users.list({ q: 'zonk' }, { afterEmail: null, limit: 10 })).toEqual([]);
    expect(await users.list({ q: 'newcomer' }, { afterEmail: null, limit: 10 })).toEqual([]);
  });

  (testEngine() === 'sqlite' ? it : it.skip)('SQLite: users_search holds exactly the users, after all those changes', async () => {
    const entries = await ctx.db.query<unknown[]>('SELECT id, email, display_name FROM users_search ORDER BY id');
    const rows = await ctx.db.query<unknown[]>('SELECT id, email, display_name FROM users ORDER BY id');
    expect(entries).toHaveLength(rows.length);
    expect(entries).toEqual(rows);
  });

  describe('query plans', () => {
    /** Every table or index the statement reads, one line each (SQLite: EXPLAIN QUERY PLAN details; PostgreSQL: scan nodes). */
    async function plan(filter: UserFilter, afterEmail: string | null = null): Promise<string[]> {
      const [sql, params] = (await users.listQuery(filter, { afterEmail, limit: 51 })).getQueryAndParameters();
      if (testEngine() === 'sqlite') return (await ctx.db.query(`EXPLAIN QUERY PLAN ${sql}`, params)).map((r: { detail: string }) => r.detail);
      const runner = ctx.db.createQueryRunner();
      try {
        // Sequential scans priced out (as pgseed-query-plans does): the plan shows the index PostgreSQL would use, if there is one.
        // Statistics of the seeded users, as autovacuum would gather them.
        await runner.query('ANALYZE users');
        await runner.startTransaction();
        await runner.query('SET LOCAL enable_seqscan = off');
        const [row] = (await runner.query(`EXPLAIN (FORMAT JSON) ${sql}`, params)) as { 'QUERY PLAN': [{ Plan: PgPlan }] }[];
        const lines: string[] = [];
        const walk = (node: PgPlan) => {
          if (node['Relation Name'] || node['Index Name']) lines.push(`${node['Node Type']} ${node['Index Name'] ?? node['Relation Name']}`);
          node.Plans?.forEach(walk);
        };
        walk(row['QUERY PLAN'][0].Plan);
        return lines;
      } finally {
        await runner.rollbackTransaction();
        await runner.release();
      }
    }
    interface PgPlan {
      'Node Type': string;
      'Relation Name'?: string;
      'Index Name'?: string;
      Plans?: PgPlan[];
    }

    it.each([
      ['a search of 3 characters or more', { q: 'user17' }, null],
      ['the next page', { q: 'user17' }, 'user170@seed.example'],
      ['with filters', { q: 'odd.test', role: 'member', disabled: false }, null],
      ['a name', { q: 'mixed case' }, null],
    ] as [string, UserFilter, string | null][])('%s reads the trigram index, not every user', async (_, filter, after) => {
      const lines = await plan(filter, after);
      if (testEngine() === 'sqlite') {
        // users_search finds the ids; each user is then one primary-key lookup.
        expect(lines).toEqual(
          expect.arrayContaining([expect.stringMatching(/^SCAN users_search VIRTUAL TABLE INDEX \d+:M/), 'SEARCH u USING INDEX sqlite_autoindex_users_1 (id=?)']),
        );
        expect(lines.filter((l) => /^SCAN u\b/.test(l))).toEqual([]);
      } else {
        expect(lines).toEqual(expect.arrayContaining(['Bitmap Index Scan IDX_users_email_trgm', 'Bitmap Index Scan IDX_users_display_name_trgm']));
        expect(lines.filter((l) => /^(Seq Scan|Index Scan|Index Only Scan) /.test(l))).toEqual([]);
      }
    });
  });
});
