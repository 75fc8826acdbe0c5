import type BetterSqlite3 from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DataSource, DataSourceOptions } from 'typeorm';
import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata';
import { MIGRATIONS } from './migrations';
import { POSTGRES_MIGRATIONS } from './migrations-postgres';
import { limitWalSize } from './wal-checkpoint';

/**
 * The two databases Gatehouse runs on: the embedded SQLite file (default, one gateway process) and
 * PostgreSQL (database.url / DATABASE_URL; one database shared by several replicas). One set of
 * entities; one migrations folder per engine (migrations/, migrations-postgres/), both generated
 * from the entities by scripts/migration-diff.ts.
 */
export type DatabaseEngine = 'sqlite' | 'postgres';

export const DATABASE_FILE = 'gatehouse.db';

export function engineOf(dataSource: DataSource): DatabaseEngine {
  return dataSource.options.type === 'postgres' ? 'postgres' : 'sqlite';
}

export function engineOfUrl(url: string | undefined): DatabaseEngine {
  return url ? 'postgres' : 'sqlite';
}

/**
 * int8 (bigint, COUNT(*)) and numeric (SUM of bigints) as JS numbers, as SQLite gives them: every
 * such value here (epoch ms, counts, sums of counts) is an integer far below 2^53.
 */
const PG_TYPES = {
  getTypeParser: (oid: number, format?: string) => {
    // Required here, as in change-feed.ts: a gateway on SQLite never loads the pg driver.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { types } = require('pg') as { types: { getTypeParser: (oid: number, format?: string) => unknown } };
    if (oid === 20 || oid === 1700) return (value: string) => Number(value);
    return types.getTypeParser(oid, format);
  },
};

/** The DataSource options of an engine; entities are added by the caller (autoLoadEntities or a list). */
export function dataSourceOptions(opts: { url?: string; dataDir: string }): DataSourceOptions {
  // The data directory holds more than the SQLite file (the lock file, master.key): made on both engines.
  mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
  if (opts.url) {
    return {
      type: 'postgres',
      url: opts.url,
      synchronize: false,
      migrations: POSTGRES_MIGRATIONS,
      // Run by openDataSource under a lock: replicas starting together must not both migrate.
      migrationsRun: false,
      migrationsTransactionMode: 'each',
      // pg.Pool options: replicas each hold a small pool; a dead server fails a request in 10 s, not never.
      extra: { types: PG_TYPES, max: 10, connectionTimeoutMillis: 10_000 },
    };
  }
  return {
    type: 'better-sqlite3',
    database: join(opts.dataDir, DATABASE_FILE),
    synchronize: false,
    migrations: MIGRATIONS,
    migrationsRun: true,
    migrationsTransactionMode: 'each',
    prepareDatabase: (db: BetterSqlite3.Database) => {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.pragma('busy_timeout = 5000');
      db.pragma('foreign_keys = ON');
      limitWalSize(db);
    },
  };
}

/**
 * Types that differ between the engines, made to behave the same. The entities say `integer` for
 * epoch-millisecond times and counters: SQLite's INTEGER is 64-bit, PostgreSQL's is 32-bit (it
 * would overflow in 1970 + 25 days), so on PostgreSQL every `integer` column is `bigint` (and
 * read back as a number, PG_TYPES). JSON (`simple-json`) is text on both; booleans are
 * TypeORM-converted on both. Applied to the driver before the schema is built or compared, so
 * migration-diff.ts, the schema test and the gateway agree.
 */
export function alignTypes(dataSource: DataSource): DataSource {
  if (engineOf(dataSource) !== 'postgres') return dataSource;
  const driver = dataSource.driver as { normalizeType: (column: Partial<ColumnMetadata>) => string };
  const normalize = driver.normalizeType.bind(driver);
  driver.normalizeType = (column) => {
    const type = normalize(column);
    return type === 'integer' ? 'bigint' : type;
  };
  return dataSource;
}

/** Any constant: the key of the advisory lock the replicas' migrations take turns on. */
const MIGRATION_LOCK = 7_146_532_881;

/** A DataSource built and initialised (migrations run) for the options. */
export async function openDataSource(options: DataSourceOptions): Promise<DataSource> {
  const dataSource = await alignTypes(new DataSource(options)).initialize();
  if (engineOf(dataSource) !== 'postgres') return dataSource;
  // Replicas started together: one migrates, the others wait for it, then find nothing to do.
  const runner = dataSource.createQueryRunner();
  try {
    await runner.connect();
    await runner.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    try {
      await dataSource.runMigrations({ transaction: 'each' });
    } finally {
      await runner.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]);
    }
  } catch (err) {
    await runner.release();
    await dataSource.destroy();
    throw err;
  }
  await runner.release();
  return dataSource;
}
