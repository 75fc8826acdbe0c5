import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { AuditModule } from '../../server/src/audit/audit.module';
import { dataSourceOptions, openDataSource } from '../../server/src/database/engine';
import { POSTGRES_MIGRATIONS } from '../../server/src/database/migrations-postgres';
import { IdentityModule } from '../../server/src/identity/identity.module';
import { User } from '../../server/src/identity/user.entity';
import { UsersService } from '../../server/src/identity/users.service';
import { postgresDatabase, testEngine } from '../helpers/test-database';
import { createNestContext, NestContext } from './nest-context';

/**
 * PostgreSQL (GATEHOUSE_TEST_DB=postgres): where pg_trgm cannot be created, the users-search
 * migration skips its indexes instead of failing the start; the search still answers (reading
 * every user) and the gateway says so in a warning. Here the migrations run as a role without
 * CREATE on the database, which a trusted extension requires (PostgreSQL docs, CREATE EXTENSION).
 */
(testEngine() === 'postgres' ? describe : describe.skip)('postgres: users search without pg_trgm', () => {
  let dataDir: string;
  const role = `gh_noext_${randomBytes(4).toString('hex')}`;
  let superUrl: string;
  let ctx: NestContext | null = null;
  const warnings: string[] = [];

  async function asSuperuser<T>(fn: (c: Client) => Promise<T>, database?: string): Promise<T> {
    const url = new URL(superUrl);
    if (database) url.pathname = `/${database}`;
    const c = new Client({ connectionString: url.toString() });
    await c.connect();
    try {
      return await fn(c);
    } finally {
      await c.end();
    }
  }

  beforeAll(async () => {
    // Made here, not when the file is read: describe.skip still runs this block's body.
    dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-usersearch-fallback-'));
    superUrl = await postgresDatabase(dataDir);
    await asSuperuser(async (c) => {
      await c.query(`CREATE ROLE ${role} LOGIN`);
      await c.query(`GRANT USAGE, CREATE ON SCHEMA public TO ${role}`);
    });
    const asRole = new URL(superUrl);
    asRole.username = role;
    // The gateway's start as that role: every migration, this one included.
    const ds: DataSource = await openDataSource({
      ...dataSourceOptions({ url: asRole.toString(), dataDir }),
      entities: [join(__dirname, '..', '..', 'server', 'src', '**', '*.entity.ts')],
    });
    await ds.destroy();
    jest.spyOn(Logger.prototype, 'warn').mockImplementation((message: unknown) => void warnings.push(String(message)));
    ctx = await createNestContext({ imports: [AuditModule, IdentityModule], dataDir });
  }, 120_000);

  afterAll(async () => {
    jest.restoreAllMocks();
    await ctx?.close();
    if (!superUrl) return;
    const database = new URL(superUrl).pathname.slice(1);
    await asSuperuser(async (c) => {
      await c.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      await c.query(`DROP ROLE IF EXISTS ${role}`);
    }, 'postgres');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('the migrations ran to the end without the extension and without the indexes', async () => {
    const db = ctx!.db;
    expect(await db.query(`SELECT extname FROM pg_extension WHERE extname = 'pg_trgm'`)).toEqual([]);
    expect(await db.query(`SELECT indexname FROM pg_indexes WHERE tablename = 'users' AND indexname LIKE '%trgm%'`)).toEqual([]);
    // Every migration ran, the users search's among them, up to the last one there is.
    const ran = (await db.query<{ name: string }[]>(`SELECT name FROM migrations ORDER BY id`)).map((m) => m.name);
    expect(ran).toEqual(POSTGRES_MIGRATIONS.map((m) => m.name));
    expect(ran).toContainEqual(expect.stringMatching(/^UsersSearch\d+$/));
  });

  it('the start warns that the search reads every user', () => {
    expect(warnings).toEqual(expect.arrayContaining([expect.stringContaining('the users search has no trigram index')]));
  });

  it('the search still answers, with the same semantics', async () => {
    await ctx!.db.getRepository(User).insert([
      { id: 'a', email: 'anna@fallback.test', passwordHash: null, displayName: 'Anna 50% Off', role: 'member', disabled: false, createdAt: 1, lastLoginAt: null },
      { id: 'b', email: 'bob@fallback.test', passwordHash: null, displayName: 'Bob', role: 'member', disabled: false, createdAt: 2, lastLoginAt: null },
    ]);
    const users = ctx!.app.get(UsersService);
    expect((await users.list({ q: 'FALLBACK' }, { afterEmail: null, limit: 10 })).map((u) => u.email)).toEqual(['anna@fallback.test', 'bob@fallback.test']);
    expect((await users.list({ q: '50%' }, { afterEmail: null, limit: 10 })).map((u) => u.email)).toEqual(['anna@fallback.test']);
  });
});
