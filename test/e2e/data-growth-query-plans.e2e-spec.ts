import 'reflect-metadata';
import { DataSource, LessThan, ObjectLiteral } from 'typeorm';
import { AuditEvent } from '../../server/src/audit/audit-event.entity';
import { LoginSession } from '../../server/src/identity/login-session.entity';
import { AccessToken } from '../../server/src/oauth/access-token.entity';
import { AuthorizationCode } from '../../server/src/oauth/authorization-code.entity';
import { Consent } from '../../server/src/oauth/consent.entity';
import { Grant } from '../../server/src/oauth/grant.entity';
import { noncesRotatedBefore } from '../../server/src/oauth/grants/grants-purge';
import { RefreshToken } from '../../server/src/oauth/refresh-token.entity';
import { isTableScan, MigratedSqlite, openMigratedSqlite, sqlitePlan, Statement } from '../helpers/query-plans';

/**
 * Cost that stays flat as the data grows: the statements that run per request, per sign-in, per
 * page, per dashboard or on a timer must find their rows through an index, never by reading a
 * whole table (EXPLAIN QUERY PLAN on the migrated schema, as a gateway's database has it: no
 * ANALYZE statistics). bench/data-growth.ts measures the same with 10 million audit rows.
 */
describe('query plans on the migrated schema: no statement reads a whole table', () => {
  let ds: DataSource;
  let db: MigratedSqlite['db'];
  let close: MigratedSqlite['close'] | undefined;

  beforeAll(async () => {
    ({ ds, db, close } = await openMigratedSqlite('gatehouse-plans-', [AccessToken, RefreshToken, AuthorizationCode, LoginSession, Consent, Grant, AuditEvent]));
  });

  afterAll(async () => {
    await close?.();
  });

  const plan = (statement: Statement) => sqlitePlan(db, statement);

  /** A full read of a table: `SCAN t` without an index (an index-ordered scan with LIMIT stops at the page). */
  const fullScans = (steps: string[]) => steps.filter((s) => isTableScan(s) || s.includes('USE TEMP B-TREE'));

  const now = Date.now();
  const deleteWhere = <E extends ObjectLiteral>(entity: new () => E, where: object): Statement =>
    ds.getRepository(entity).createQueryBuilder().delete().where(where).getQueryAndParameters() as Statement;

  it.each([
    ['expired access tokens (grants purge)', () => deleteWhere(AccessToken, { expiresAt: LessThan(now) })],
    ['expired refresh tokens (grants purge)', () => deleteWhere(RefreshToken, { expiresAt: LessThan(now) })],
    ['expired authorization codes (grants purge)', () => deleteWhere(AuthorizationCode, { expiresAt: LessThan(now) })],
    ['expired login sessions (every sign-in)', () => deleteWhere(LoginSession, { expiresAt: LessThan(now) })],
    ["a deleted client's consents", () => deleteWhere(Consent, { clientId: 'c' })],
    [
      'rotation nonces past the grace window (grants purge)',
      () => ds.getRepository(RefreshToken).createQueryBuilder().update().set({ rotationNonce: null }).where(noncesRotatedBefore(now)).getQueryAndParameters() as Statement,
    ],
    [
      'a batch of audit retention',
      () => {
        const ids = ds.getRepository(AuditEvent).createQueryBuilder('e').select('e.id').where('e.at < :cutoff', { cutoff: now }).limit(2000);
        return ds.getRepository(AuditEvent).createQueryBuilder().delete().where(`id IN (${ids.getQuery()})`, ids.getParameters()).getQueryAndParameters() as Statement;
      },
    ],
  ])('%s: through an index', (_name, query) => {
    const steps = plan(query());
    expect(steps.length).toBeGreaterThan(0);
    expect(fullScans(steps)).toEqual([]);
    expect(steps.some((s) => s.includes('INDEX'))).toBe(true);
  });

  it('the nonce purge clears exactly the nonces of tokens rotated before the end of the grace window', async () => {
    const repo = ds.getRepository(RefreshToken);
    const token = (tokenHash: string, rotatedAt: number | null, rotationNonce: string | null) => ({
      tokenHash,
      grantId: 'g',
      createdAt: 1,
      expiresAt: now + 1e6,
      rotatedAt,
      rotationNonce,
    });
    await repo.insert([token('old', now - 10_000, 'n1'), token('recent', now - 10, 'n2'), token('live', null, null)]);
    await repo.update(noncesRotatedBefore(now - 1_000), { rotationNonce: null });
    const rows = await repo.find({ order: { tokenHash: 'ASC' } });
    expect(rows.map((r) => [r.tokenHash, r.rotationNonce])).toEqual([
      ['live', null],
      ['old', null],
      ['recent', 'n2'],
    ]);
  });
});
