import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import 'reflect-metadata';
import type BetterSqlite3 from 'better-sqlite3';
import { DataSource, LessThanOrEqual, MoreThan } from 'typeorm';
import { MIGRATIONS } from '../../server/src/database/migrations';
import { PendingSignInRecord } from '../../server/src/pending-sign-ins/pending-sign-in.entity';
import { ToolVersion } from '../../server/src/tool-policy/tool-version.entity';

/**
 * The statements of the pending sign-ins (every sign-in start and callback, and a purge every
 * minute) and the tool catalogue's per-upstream reload (every notification from another replica)
 * find their rows through an index (as data-growth-query-plans.e2e-spec.ts, SQLite's plans).
 */
describe('query plans of pending sign-ins and the catalogue reload', () => {
  let dir: string;
  let ds: DataSource;
  let db: BetterSqlite3.Database;
  const now = Date.now();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-replica-gaps-plans-'));
    ds = new DataSource({
      type: 'better-sqlite3',
      database: join(dir, 'plans.db'),
      entities: [PendingSignInRecord, ToolVersion],
      migrations: MIGRATIONS,
      migrationsTransactionMode: 'each',
    });
    await ds.initialize();
    await ds.runMigrations();
    db = (ds.driver as unknown as { databaseConnection: BetterSqlite3.Database }).databaseConnection;
  });

  afterAll(async () => {
    await ds?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  function plan([sql, params]: [string, unknown[]]): string[] {
    return (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as { detail: string }[]).map((r) => r.detail);
  }
  const scans = (steps: string[]) => steps.filter((s) => /^SCAN \w+$/.test(s.trim()));
  const pending = () => ds.getRepository(PendingSignInRecord).createQueryBuilder('row');

  it.each([
    [
      'the purge of expired pending sign-ins',
      () =>
        pending()
          .delete()
          .where({ expiresAt: LessThanOrEqual(now) })
          .getQueryAndParameters(),
    ],
    [
      'a callback finding its pending sign-in',
      () =>
        pending()
          .where({ id: 'x', kind: 'oidc', expiresAt: MoreThan(now) })
          .getQueryAndParameters(),
    ],
    [
      "a requester's pending sign-ins (the bound, at every start)",
      () =>
        pending()
          .select(['row.id', 'row.createdAt'])
          .where({ requester: 'ip:x', expiresAt: MoreThan(now) })
          .getQueryAndParameters(),
    ],
    [
      "one upstream's tool catalogue",
      () => ds.getRepository(ToolVersion).createQueryBuilder('v').where({ upstreamSlug: 's' }).orderBy('v.lastSeenAt', 'ASC').getQueryAndParameters(),
    ],
  ])('%s', (_name, statement) => {
    const steps = plan(statement() as [string, unknown[]]);
    expect(steps.some((s) => s.includes('USING INDEX') || s.includes('USING PRIMARY KEY') || s.includes('USING COVERING INDEX'))).toBe(true);
    expect(scans(steps)).toEqual([]);
  });
});
