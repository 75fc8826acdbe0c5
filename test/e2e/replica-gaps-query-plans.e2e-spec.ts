import 'reflect-metadata';
import { DataSource, LessThanOrEqual, MoreThan } from 'typeorm';
import { PendingSignInRecord } from '../../server/src/pending-sign-ins/pending-sign-in.entity';
import { ToolVersion } from '../../server/src/tool-policy/tool-version.entity';
import { isTableScan, MigratedSqlite, openMigratedSqlite, sqlitePlan, Statement } from '../helpers/query-plans';

/**
 * The statements of the pending sign-ins (every sign-in start and callback, and a purge every
 * minute) and the tool catalogue's per-upstream reload (every notification from another replica)
 * find their rows through an index (as data-growth-query-plans.e2e-spec.ts, SQLite's plans).
 */
describe('query plans of pending sign-ins and the catalogue reload', () => {
  let ds: DataSource;
  let db: MigratedSqlite['db'];
  let close: MigratedSqlite['close'] | undefined;
  const now = Date.now();

  beforeAll(async () => {
    ({ ds, db, close } = await openMigratedSqlite('gatehouse-replica-gaps-plans-', [PendingSignInRecord, ToolVersion]));
  });

  afterAll(async () => {
    await close?.();
  });

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
    const steps = sqlitePlan(db, statement() as Statement);
    expect(steps.some((s) => s.includes('USING INDEX') || s.includes('USING PRIMARY KEY') || s.includes('USING COVERING INDEX'))).toBe(true);
    expect(steps.filter(isTableScan)).toEqual([]);
  });
});
