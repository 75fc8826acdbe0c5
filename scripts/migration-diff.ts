/**
 * Writes the migration the entities need, for each engine: runs every existing migration of the
 * engine on an empty database, then asks TypeORM how the entities differ from the result.
 *   npx ts-node --transpile-only scripts/migration-diff.ts [--engine sqlite|postgres|both] <ClassName> <file-name>
 * Default engine: both (one file in migrations/ and one in migrations-postgres/, same timestamp).
 * SQLite runs in memory; PostgreSQL on $GATEHOUSE_PG_URL when set (a scratch database is created
 * and dropped there), else on a throwaway cluster started and stopped by scripts/pg-throwaway.sh.
 * Without a class name it only prints the SQL. Add each new class to its folder's index.ts.
 */
import 'reflect-metadata';
import { execFileSync } from 'node:child_process';
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as prettier from 'prettier';
import { Client } from 'pg';
import { DataSource, DataSourceOptions } from 'typeorm';
import { alignTypes, DatabaseEngine } from '../server/src/database/engine';
import { MIGRATIONS } from '../server/src/database/migrations';
import { POSTGRES_MIGRATIONS } from '../server/src/database/migrations-postgres';

function entityFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return entityFiles(path);
    return name.endsWith('.entity.ts') ? [path] : [];
  });
}

type EntityClass = new (...args: never[]) => unknown;

/** Every class exported by the *.entity.ts files. */
async function loadEntities(): Promise<EntityClass[]> {
  const modules = await Promise.all(entityFiles(join(__dirname, '..', 'server', 'src')).map((f) => import(f) as Promise<Record<string, unknown>>));
  return modules.flatMap((m) => Object.values(m).filter((v): v is EntityClass => typeof v === 'function'));
}

interface Diff {
  up: string[];
  down: string[];
}

async function diff(options: DataSourceOptions): Promise<Diff> {
  const ds = alignTypes(new DataSource(options));
  await ds.initialize();
  try {
    await ds.runMigrations();
    const log = await ds.driver.createSchemaBuilder().log();
    return { up: log.upQueries.map((q) => q.query), down: log.downQueries.reverse().map((q) => q.query) };
  } finally {
    await ds.destroy();
  }
}

/** Runs fn against an empty PostgreSQL database, created for it and dropped after. */
async function withScratchPostgres<T>(fn: (url: string) => Promise<T>): Promise<T> {
  const script = join(__dirname, 'pg-throwaway.sh');
  let server = process.env.GATEHOUSE_PG_URL;
  let started: string | null = null;
  if (!server) {
    process.env.PG_THROWAWAY_STATE = `/tmp/gatehouse-pg-diff-${process.pid}.state`;
    server = execFileSync(script, ['start'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
    started = server;
  }
  const name = `gatehouse_diff_${process.pid}_${Date.now()}`;
  const admin = new Client({ connectionString: server });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
    const url = new URL(server);
    url.pathname = `/${name}`;
    return await fn(url.toString());
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => undefined);
    await admin.end();
    if (started) execFileSync(script, ['stop'], { stdio: 'inherit' });
  }
}

async function diffFor(engine: DatabaseEngine, entities: EntityClass[]): Promise<Diff> {
  if (engine === 'sqlite') return diff({ type: 'better-sqlite3', database: ':memory:', entities, migrations: MIGRATIONS });
  return withScratchPostgres((url) => diff({ type: 'postgres', url, entities, migrations: POSTGRES_MIGRATIONS }));
}

async function write(engine: DatabaseEngine, className: string, fileName: string, stamp: number, { up, down }: Diff): Promise<void> {
  const list = (qs: string[]) => qs.map((q) => `      ${JSON.stringify(q)},`).join('\n');
  const body = `import { MigrationInterface, QueryRunner } from 'typeorm';

export class ${className}${stamp} implements MigrationInterface {
  name = '${className}${stamp}';

  async up(q: QueryRunner): Promise<void> {
    for (const sql of [
${list(up)}
    ]) {
      await q.query(sql);
    }
  }

  async down(q: QueryRunner): Promise<void> {
    for (const sql of [
${list(down)}
    ]) {
      await q.query(sql);
    }
  }
}
`;
  const folder = engine === 'sqlite' ? 'migrations' : 'migrations-postgres';
  const path = join(__dirname, '..', 'server', 'src', 'database', folder, `${stamp}-${fileName}.ts`);
  // Formatted like the rest of the code, so `npm run lint` (prettier --check) passes on the new file.
  const options = await prettier.resolveConfig(path);
  writeFileSync(path, await prettier.format(body, { ...options, filepath: path }));
  console.log(`wrote ${path}: add ${className}${stamp} to ${folder}/index.ts`);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  let engines: DatabaseEngine[] = ['sqlite', 'postgres'];
  const flag = args.indexOf('--engine');
  if (flag >= 0) {
    const value = args[flag + 1];
    if (value !== 'sqlite' && value !== 'postgres' && value !== 'both') throw new Error('--engine must be sqlite, postgres or both');
    if (value !== 'both') engines = [value];
    args.splice(flag, 2);
  }
  const [className, fileName] = args;
  const entities = await loadEntities();
  const stamp = Date.now();
  for (const engine of engines) {
    const found = await diffFor(engine, entities);
    if (!className || !fileName) console.log(engine, found);
    else if (!found.up.length) console.log(`${engine}: the migrations already produce the entities' schema; nothing written`);
    else await write(engine, className, fileName, stamp, found);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
