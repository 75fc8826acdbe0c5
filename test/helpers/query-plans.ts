import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import 'reflect-metadata';
import type BetterSqlite3 from 'better-sqlite3';
import { DataSource, DataSourceOptions, QueryRunner } from 'typeorm';
import { MIGRATIONS } from '../../server/src/database/migrations';

/** A statement as TypeORM's getQueryAndParameters() gives it. */
export type Statement = [string, unknown[]];

/**
 * Readers of query plans, for tests that a statement finds its rows through an index as the data
 * grows: SQLite's EXPLAIN QUERY PLAN (https://sqlite.org/eqp.html) and PostgreSQL's
 * EXPLAIN (FORMAT JSON) (https://www.postgresql.org/docs/current/sql-explain.html).
 */

export interface MigratedSqlite {
  ds: DataSource;
  /** The better-sqlite3 handle under TypeORM, for EXPLAIN QUERY PLAN with the statement's own parameters. */
  db: BetterSqlite3.Database;
  close: () => Promise<void>;
}

/** A SQLite file in a temporary directory, migrated as a gateway's database is (no ANALYZE statistics), with `entities` mapped. */
export async function openMigratedSqlite(prefix: string, entities: DataSourceOptions['entities']): Promise<MigratedSqlite> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const ds = new DataSource({ type: 'better-sqlite3', database: join(dir, 'plans.db'), entities, migrations: MIGRATIONS, migrationsTransactionMode: 'each' });
  const close = async () => {
    if (ds.isInitialized) await ds.destroy();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await ds.initialize();
    await ds.runMigrations();
  } catch (err) {
    await close();
    throw err;
  }
  return { ds, db: (ds.driver as unknown as { databaseConnection: BetterSqlite3.Database }).databaseConnection, close };
}

/** SQLite's plan, one string a step (e.g. `SEARCH access_tokens USING INDEX … (expires_at<?)`). */
export function sqlitePlan(db: BetterSqlite3.Database, [sql, params]: Statement): string[] {
  return (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as { detail: string }[]).map((r) => r.detail);
}

/** A step that reads a whole table: `SCAN t` without an index (an index-ordered scan names its index). */
export const isTableScan = (step: string) => /^SCAN \w+$/.test(step.trim());

/** A node of PostgreSQL's JSON plan, the fields these tests read. */
export interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Index Cond'?: string;
  Plans?: PlanNode[];
}

/** Every scan of `table` in PostgreSQL's plan of the statement: how it reads, through which index, with which index condition. */
export async function postgresScans(runner: QueryRunner, table: string, [sql, params]: Statement): Promise<PlanNode[]> {
  const [row] = (await runner.query(`EXPLAIN (FORMAT JSON) ${sql}`, params)) as { 'QUERY PLAN': [{ Plan: PlanNode }] }[];
  const scans: PlanNode[] = [];
  const walk = (node: PlanNode) => {
    // A bitmap heap scan's rows come from the bitmap index scans below it.
    if (node['Relation Name'] === table && node['Node Type'] !== 'Bitmap Heap Scan') scans.push(node);
    if (node['Node Type'] === 'Bitmap Index Scan' && node['Index Name']) scans.push(node);
    node.Plans?.forEach(walk);
  };
  walk(row['QUERY PLAN'][0].Plan);
  return scans;
}
