import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli';

/** What the CLI cannot do safely with replicas on PostgreSQL is refused, saying why and what to use instead. */
describe('gatehouse CLI with database.url (PostgreSQL)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-pgcli-'));
  // Nothing listens there: each command must refuse before it connects.
  const env = { DATA_DIR: join(dir, 'data'), DATABASE_URL: 'postgres://gatehouse:not-a-real-password@127.0.0.1:1/gatehouse' };
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each([
    [['vault', 'rotate'], /vault rotate works on the embedded SQLite database only; with database\.url \(PostgreSQL, several replicas\) it is refused/],
    [['backup', join(dir, 'b.db')], /gatehouse backup works on the embedded SQLite database; with database\.url \(PostgreSQL\) use pg_dump/],
    [['restore', join(dir, 'b.db')], /gatehouse restore works on the embedded SQLite database; with database\.url \(PostgreSQL\) use pg_restore/],
  ])('%j is refused with exit code 2', async (args, message) => {
    const result = await runCli(args, { cwd: dir, env });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stderr + result.stdout).not.toContain('not-a-real-password');
  });
});
