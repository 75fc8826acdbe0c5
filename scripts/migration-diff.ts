/**
 * Writes the migration the entities need: runs every existing migration on an
 * in-memory database, then asks TypeORM how the entities differ from the result.
 *   npx ts-node --transpile-only scripts/migration-diff.ts <ClassName> <file-name>
 * Without arguments it only prints the SQL. Add the new class to migrations/index.ts.
 */
import 'reflect-metadata';
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as prettier from 'prettier';
import { DataSource } from 'typeorm';
import { MIGRATIONS } from '../server/src/database/migrations';

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

async function main(): Promise<void> {
  const entities = await loadEntities();
  const ds = new DataSource({ type: 'better-sqlite3', database: ':memory:', entities, migrations: MIGRATIONS });
  await ds.initialize();
  await ds.runMigrations();
  const log = await ds.driver.createSchemaBuilder().log();
  await ds.destroy();
  const up = log.upQueries.map((q) => q.query);
  const down = log.downQueries.reverse().map((q) => q.query);
  const [className, fileName] = process.argv.slice(2);
  if (!className || !fileName) {
    console.log({ up, down });
    return;
  }
  const stamp = Date.now();
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
  const path = join(__dirname, '..', 'server', 'src', 'database', 'migrations', `${stamp}-${fileName}.ts`);
  // Formatted like the rest of the code, so `npm run lint` (prettier --check) passes on the new file.
  const options = await prettier.resolveConfig(path);
  writeFileSync(path, await prettier.format(body, { ...options, filepath: path }));
  console.log(`wrote ${path}: add ${className}${stamp} to migrations/index.ts`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
