import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getRepositoryToken } from '@nestjs/typeorm';
import { DataSource, IsNull, Not, Repository } from 'typeorm';
import { AuditModule } from '../../server/src/audit/audit.module';
import { MIGRATIONS } from '../../server/src/database/migrations';
import { GrantsLastUsedAndListIndexes1795694715951 } from '../../server/src/database/migrations/1795694715951-grants-last-used-and-list-indexes';
import { Grant } from '../../server/src/oauth/grant.entity';
import { GrantFilter, grantListQuery, GrantPage } from '../../server/src/oauth/grants/grant-query';
import { GrantsService } from '../../server/src/oauth/grants/grants.service';
import { OAuthModule } from '../../server/src/oauth/oauth.module';
import { testEngine } from '../helpers/test-database';
import { createNestContext, NestContext } from './nest-context';

const GRANTS = 10_000;
const USERS = 50;
const CLIENTS = 200;
const UPSTREAMS = ['alpha', 'beta', 'gamma'];

describe('grants store: the admin grants list over 10,000 grants', () => {
  let ctx: NestContext;
  let repo: Repository<Grant>;
  let grants: GrantsService;
  const base = 1_800_000_000_000;

  beforeAll(async () => {
    ctx = await createNestContext({ imports: [AuditModule, OAuthModule] });
    repo = ctx.app.get(getRepositoryToken(Grant));
    grants = ctx.app.get(GrantsService);
    const rows = Array.from({ length: GRANTS }, (_, i) => ({
      id: randomUUID(),
      userId: `user-${i % USERS}`,
      clientId: `client-${i % CLIENTS}`,
      upstreamSlug: UPSTREAMS[i % UPSTREAMS.length],
      scope: 'mcp',
      // Runs of equal created_at: the id breaks the tie, the cursor must too.
      createdAt: base + Math.floor(i / 7) * 1000,
      lastUsedAt: null,
      // Most revoked: "live" must not mean reading them all.
      revokedAt: i % 10 === 0 ? null : base + i,
      revokedReason: i % 10 === 0 ? null : 'test',
    }));
    for (let i = 0; i < rows.length; i += 500) await repo.insert(rows.slice(i, i + 500));
  }, 60_000);
  afterAll(async () => {
    await ctx.close();
    ctx.cleanup();
  });

  const filters: Array<[string, GrantFilter]> = [
    ['no filter', {}],
    ['a user', { userId: 'user-7' }],
    ['a client', { clientId: 'client-42' }],
    ['an upstream', { upstreamSlug: 'beta' }],
    ['live grants', { active: true }],
    ['revoked grants', { active: false }],
    ["a user's live grants", { userId: 'user-7', active: true }],
    ["a client's revoked grants at an upstream", { clientId: 'client-42', upstreamSlug: 'gamma', active: false }],
  ];

  // SQLite's query plan (EXPLAIN QUERY PLAN); PostgreSQL's planner picks by statistics, so there is no fixed plan to assert.
  (testEngine() === 'sqlite' ? it : it.skip).each(filters)('%s: SQLite walks an index from the cursor, with no sort and no table scan', async (_name, filter) => {
    for (const page of [
      { after: null, limit: 51 },
      { after: [base + 500_000, 'm'], limit: 51 },
    ] as GrantPage[]) {
      const [sql, params] = grantListQuery(repo, filter, page).getQueryAndParameters();
      const plan: Array<{ detail: string }> = await ctx.db.query(`EXPLAIN QUERY PLAN ${sql}`, params);
      const details = plan.map((p) => p.detail);
      if (process.env.SHOW_PLANS) console.log(_name, page.after ? 'after cursor' : 'first page', details);
      expect(details.join(' | ')).not.toMatch(/TEMP B-TREE/);
      expect(details.filter((d) => /^SCAN /.test(d) && !/USING (COVERING )?INDEX/.test(d))).toEqual([]);
    }
  });

  it.each(filters)('%s: the cursor pages through every match once, newest first', async (_name, filter) => {
    const expected = (await repo.find({ where: toWhere(filter) })).sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : -1)).map((g) => g.id);
    const seen: string[] = [];
    let after: [number, string] | null = null;
    for (;;) {
      const page: Grant[] = await grants.listGrants(filter, { after, limit: 200 });
      seen.push(...page.map((g) => g.id));
      if (page.length < 200) break;
      const last: Grant = page[page.length - 1];
      after = [last.createdAt, last.id];
    }
    expect(seen).toEqual(expected);
  });
});

function toWhere(filter: GrantFilter) {
  return {
    ...(filter.userId ? { userId: filter.userId } : {}),
    ...(filter.clientId ? { clientId: filter.clientId } : {}),
    ...(filter.upstreamSlug ? { upstreamSlug: filter.upstreamSlug } : {}),
    ...(filter.active === undefined ? {} : { revokedAt: filter.active ? IsNull() : Not(IsNull()) }),
  };
}

describe('migration: grants.last_used_at and the list indexes', () => {
  it('keeps every grant, adds last_used_at empty, and goes back', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-grants-migration-'));
    const open = async (migrations: typeof MIGRATIONS) => {
      const ds = new DataSource({ type: 'better-sqlite3', database: join(dir, 'db.sqlite'), migrations });
      await ds.initialize();
      await ds.runMigrations();
      return ds;
    };
    const upTo = MIGRATIONS.indexOf(GrantsLastUsedAndListIndexes1795694715951);
    try {
      const before = await open(MIGRATIONS.slice(0, upTo));
      await before.query(
        "INSERT INTO grants (id, user_id, client_id, upstream_slug, scope, created_at, revoked_at, revoked_reason) VALUES ('g1', 'u', 'c', 's', 'mcp', 5, NULL, NULL), ('g2', 'u', 'c', 's', 'mcp', 6, 7, 'why')",
      );
      await before.destroy();

      const ds = await open(MIGRATIONS.slice(0, upTo + 1));
      expect(await ds.query('SELECT id, user_id, created_at, last_used_at, revoked_at, revoked_reason FROM grants ORDER BY id')).toEqual([
        { id: 'g1', user_id: 'u', created_at: 5, last_used_at: null, revoked_at: null, revoked_reason: null },
        { id: 'g2', user_id: 'u', created_at: 6, last_used_at: null, revoked_at: 7, revoked_reason: 'why' },
      ]);
      await ds.undoLastMigration();
      expect(await ds.query('SELECT id, revoked_reason FROM grants ORDER BY id')).toEqual([
        { id: 'g1', revoked_reason: null },
        { id: 'g2', revoked_reason: 'why' },
      ]);
      await ds.destroy();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
