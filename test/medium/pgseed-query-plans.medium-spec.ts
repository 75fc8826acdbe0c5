import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import 'reflect-metadata';
import { DataSource, QueryRunner } from 'typeorm';
import { dataSourceOptions, openDataSource } from '../../server/src/database/engine';
import { Grant } from '../../server/src/oauth/grant.entity';
import { clientGrantStatsQuery, grantListQuery } from '../../server/src/oauth/grants/grant-query';
import { postgresScans, Statement } from '../helpers/query-plans';
import { dropPostgresDatabase, postgresDatabase } from '../helpers/test-database';

/**
 * PostgreSQL, whatever GATEHOUSE_TEST_DB says (as postgres-schema does): statements the console
 * runs on every page find their rows through an index of the migrated schema, never by reading
 * the whole grants table (test/e2e/data-growth-query-plans checks SQLite's plans). Sequential scans
 * are priced out (enable_seqscan = off), so an empty table's plan shows which index PostgreSQL
 * would use; a scan with no index range (a sequential scan, or a whole index read in order with a
 * filter) means there was none.
 * bench/data-growth.ts --engine postgres measures the same with 100,000 grants.
 */
describe('PostgreSQL query plans on the migrated schema', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-pg-plans-'));
  let ds: DataSource;
  let runner: QueryRunner;

  beforeAll(async () => {
    const url = await postgresDatabase(dataDir);
    ds = await openDataSource({ ...dataSourceOptions({ url, dataDir }), entities: [join(__dirname, '..', '..', 'server', 'src', '**', '*.entity.ts')] });
    runner = ds.createQueryRunner();
    await runner.query('SET enable_seqscan = off');
  }, 60_000);

  afterAll(async () => {
    await runner?.release();
    await ds?.destroy();
    dropPostgresDatabase(dataDir);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it.each([
    ["the client list's metadata document clients (ClientDirectory, every page)", () => clientGrantStatsQuery(ds.getRepository(Grant), 'metadata documents')],
    ["the client list's live grants of a page of clients", () => clientGrantStatsQuery(ds.getRepository(Grant), ['a', 'b'])],
    ["a user's grants", () => grantListQuery(ds.getRepository(Grant), { userId: 'u' }, { after: null, limit: 51 })],
  ])('%s', async (_, query) => {
    const scans = await postgresScans(runner, 'grants', query().getQueryAndParameters() as Statement);
    expect(scans.length).toBeGreaterThan(0);
    // Not a sequential scan, and not a whole index read in order with a filter: an index range (Index Cond) every time.
    for (const scan of scans) expect({ type: scan['Node Type'], index: scan['Index Name'], bounded: Boolean(scan['Index Cond']) }).toMatchObject({ bounded: true });
  });
});
