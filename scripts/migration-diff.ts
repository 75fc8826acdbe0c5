/**
 * Prints the SQL a new migration needs: runs every existing migration on an
 * in-memory database, then asks TypeORM how the entities differ from the result.
 *   npx ts-node --transpile-only scripts/migration-diff.ts
 */
import 'reflect-metadata';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { MIGRATIONS } from '../server/src/database/migrations';

function entityFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return entityFiles(path);
    return name.endsWith('.entity.ts') ? [path] : [];
  });
}

(async () => {
  const entities = entityFiles(join(__dirname, '..', 'server', 'src')).flatMap((f) => Object.values(require(f)) as Function[]);
  const ds = new DataSource({ type: 'better-sqlite3', database: ':memory:', entities, migrations: MIGRATIONS });
  await ds.initialize();
  await ds.runMigrations();
  const log = await ds.driver.createSchemaBuilder().log();
  console.log('// up');
  for (const q of log.upQueries) console.log(JSON.stringify(q.query) + ',');
  console.log('// down');
  for (const q of log.downQueries.reverse()) console.log(JSON.stringify(q.query) + ',');
  await ds.destroy();
})();
