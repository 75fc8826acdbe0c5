import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { ConfigError, loadConfig } from '../../server/src/config/config.loader';
import { dataDirProblem } from '../../server/src/database/data-dir';
import { databaseInUse, removeGatewayLock, runningGateway, writeGatewayLock } from '../../server/src/database/gateway-lock';

describe('start-up checks (units)', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'gatehouse-startup-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  describe('the config loader reports every problem at once', () => {
    const problems = (yaml: string, env: Record<string, string> = {}) => {
      const file = join(dir, 'config.yaml');
      writeFileSync(file, yaml);
      try {
        loadConfig({ GATEHOUSE_CONFIG: file, ...env });
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return err as ConfigError;
      }
      throw new Error('expected a ConfigError');
    };

    it('collects class-validator errors, mode checks, missing variables and environment variables in one error', () => {
      const err = problems(
        'server:\n  port: -1\nrate_limit:\n  oauth_per_minute: 0\nupstreams:\n  - slug: a\n    url: http://127.0.0.1:1/mcp\n    auth:\n      mode: headers\n  - slug: b\n    url: ${B_URL}\n',
        { PORT: '80a', GATEHOUSE_ADMIN_EMAIL: 'nobody', GATEHOUSE_ADMIN_PASSWORD: 'x' },
      );
      expect(err.problems.map((p) => p.key)).toEqual([
        'upstreams[1].url',
        'PORT',
        'GATEHOUSE_ADMIN_EMAIL',
        'GATEHOUSE_ADMIN_PASSWORD',
        'server.port',
        'rate_limit.oauth_per_minute',
        'upstreams[0].auth.headers',
      ]);
      expect(err.key).toBe('upstreams[1].url');
      expect(err.message.split('\n')[0]).toBe('invalid configuration (7 problems):');
      expect(err.message).toContain('\n  upstreams[1].url: references environment variable B_URL, which is not set');
      // A password is never repeated back, only its length.
      expect(err.message).toContain('\n  GATEHOUSE_ADMIN_PASSWORD: must be at least 12 characters long (it has 1)');
    });

    it('one problem stays one line; empty admin variables mean unset', () => {
      const err = problems('upstreams: []\n', { PORT: '65536', GATEHOUSE_ADMIN_EMAIL: '', GATEHOUSE_ADMIN_PASSWORD: '' });
      expect(err.message).toBe('invalid configuration: PORT: must be a port number from 0 to 65535, not "65536"');
    });

    it('skips a mode check whose keys already failed (no crash on a wrong type)', () => {
      const err = problems('upstreams:\n  - slug: a\n    url: http://127.0.0.1:1/mcp\n    auth:\n      mode: headers\n      headers: [1, 2]\n      extra: x\n');
      expect(err.problems.map((p) => p.key)).toEqual(['upstreams[0].auth.extra']);
    });
  });

  describe('dataDirProblem', () => {
    it('accepts a writable directory, and one it can create', () => {
      expect(dataDirProblem(dir)).toBeNull();
      expect(dataDirProblem(join(dir, 'a', 'b'))).toBeNull();
    });

    it('names a path that is not a directory', () => {
      const file = join(dir, 'file');
      writeFileSync(file, '');
      expect(dataDirProblem(file)).toBe(`data directory ${file} is not a directory; set DATA_DIR (or server.data_dir) to a directory`);
      expect(dataDirProblem(join(file, 'below'))).toBe(
        `data directory ${join(file, 'below')} cannot be created: ${file} is not a directory; set DATA_DIR (or server.data_dir) to a directory`,
      );
    });
  });

  describe('runningGateway', () => {
    it('is null for a data directory nobody uses, and for a stale lock (dead pid, or our own pid)', () => {
      expect(runningGateway(dir)).toBeNull();
      writeFileSync(join(dir, 'gatehouse.lock'), '2147483646\n'); // no such process
      expect(runningGateway(dir)).toBeNull();
      writeGatewayLock(dir);
      expect(runningGateway(dir)).toBeNull();
      writeFileSync(join(dir, 'gatehouse.lock'), 'garbage');
      expect(runningGateway(dir)).toBeNull();
    });

    it('names the pid in a lock held by a live process', () => {
      writeFileSync(join(dir, 'gatehouse.lock'), `${process.ppid}\n`);
      expect(runningGateway(dir)).toEqual({
        pid: process.ppid,
        description: `a gateway (pid ${process.ppid}) is running on data directory ${dir} (see ${join(dir, 'gatehouse.lock')})`,
      });
      // Only our own lock is removed on stop.
      removeGatewayLock(dir);
      expect(runningGateway(dir)?.pid).toBe(process.ppid);
      writeGatewayLock(dir);
      removeGatewayLock(dir);
      expect(() => mkdirSync(join(dir, 'gatehouse.lock'))).not.toThrow(); // the file is gone
    });

    it('sees a database held open in WAL mode, and stops seeing it once closed', () => {
      const file = join(dir, 'gatehouse.db');
      const db = new Database(file);
      db.pragma('journal_mode = WAL');
      db.exec('CREATE TABLE t (x)');
      try {
        expect(databaseInUse(file)).toBe(true);
        expect(runningGateway(dir)?.description).toBe(`the database ${file} is open in another process (a gateway running on data directory ${dir}?)`);
        // The check did not disturb the open connection.
        db.prepare('INSERT INTO t VALUES (1)').run();
      } finally {
        db.close();
      }
      expect(databaseInUse(file)).toBe(false);
      expect(runningGateway(dir)).toBeNull();
      expect(new Database(file, { readonly: true }).prepare('SELECT COUNT(*) AS n FROM t').get()).toEqual({ n: 1 });
    });
  });
});
