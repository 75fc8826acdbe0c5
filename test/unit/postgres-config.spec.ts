import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { maskSecrets } from '../../server/src/config/config-mask';
import { loadConfig } from '../../server/src/config/config.loader';
import { numberedPlaceholders } from '../../server/src/database/transactions';

describe('database.url / DATABASE_URL (PostgreSQL)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-pgconfig-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function load(yaml: string, env: Record<string, string> = {}) {
    const file = join(dir, `c${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(file, yaml);
    return loadConfig({ GATEHOUSE_CONFIG: file, ...env });
  }

  it('is unset by default (SQLite), also with an empty database section as in config.example.yaml', () => {
    expect(load('demo_upstream: true\n').database.url).toBeUndefined();
    expect(load('database:\n  # url: postgres://x\n').database.url).toBeUndefined();
  });

  it('DATABASE_URL overrides the file; an empty one is unset', () => {
    expect(load('database:\n  url: postgres://a@h/file\n', { DATABASE_URL: 'postgresql://b@h/env' }).database.url).toBe('postgresql://b@h/env');
    expect(load('database:\n  url: postgres://a@h/file\n', { DATABASE_URL: '' }).database.url).toBe('postgres://a@h/file');
  });

  it('refuses anything but a postgres:// URL, naming the key', () => {
    expect(() => load('', { DATABASE_URL: 'mysql://u@h/db' })).toThrow(/database\.url: must be a postgres:\/\/ \(or postgresql:\/\/\) URL/);
  });

  it('is shown without its password', () => {
    const config = load('', { DATABASE_URL: 'postgres://gatehouse:s3cret-pw@db:5432/gatehouse' });
    const shown = maskSecrets(config, new Set()) as { database: { url: string } };
    expect(shown.database.url).toBe('postgres://gatehouse:********@db:5432/gatehouse');
    expect(JSON.stringify(shown)).not.toContain('s3cret-pw');
  });
});

describe('numberedPlaceholders (hand-written SQL on PostgreSQL)', () => {
  it('numbers every ? in order', () => {
    expect(numberedPlaceholders('SELECT a FROM t WHERE b = ? AND c IN (?, ?)')).toBe('SELECT a FROM t WHERE b = $1 AND c IN ($2, $3)');
  });
});
