import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { DataSource } from 'typeorm';
import { AuditModule } from '../../server/src/audit/audit.module';
import { AuditService } from '../../server/src/audit/audit.service';
import { parseMasterKey } from '../../server/src/vault/master-key';
import { rotateMasterKey } from '../../server/src/vault/rotate';
import { keyIdOf, VaultDecryptError } from '../../server/src/vault/vault-crypto';
import { upstreamOwner, VaultOwnerType, VaultPurpose } from '../../server/src/vault/vault-addresses';
import { VaultModule } from '../../server/src/vault/vault.module';
import { VaultService } from '../../server/src/vault/vault.service';
import { freePort } from '../helpers/gateway';
import { spawnGateway } from '../helpers/spawn-gateway';
import { storedText, testEngine } from '../helpers/test-database';
import { createNestContext, NestContext } from './nest-context';

const ROOT = join(__dirname, '..', '..');
const KEY_ENV = 'GATEHOUSE_MASTER_KEY';
const upstream = upstreamOwner;

function newKey(): string {
  return randomBytes(32).toString('base64');
}

/** Runs fn with GATEHOUSE_MASTER_KEY set (or unset), restoring it afterwards. */
async function withKeyEnv<T>(value: string | undefined, fn: () => Promise<T>): Promise<T> {
  const saved = process.env[KEY_ENV];
  if (value === undefined) delete process.env[KEY_ENV];
  else process.env[KEY_ENV] = value;
  try {
    return await fn();
  } finally {
    if (saved === undefined) delete process.env[KEY_ENV];
    else process.env[KEY_ENV] = saved;
  }
}

/** Starts the vault (and the audit log it writes to) on the SQLite file in dataDir, as a gateway start would. */
function start(dataDir?: string, key?: string): Promise<NestContext> {
  return withKeyEnv(key, () => createNestContext({ imports: [AuditModule, VaultModule], dataDir }));
}

/** Tests of what only SQLite has (a file to read, hand-written `?` SQL, the offline rotation, a spawned gateway on DATA_DIR). */
const sqliteOnly = testEngine() === 'sqlite' ? it : it.skip;

function secretRows(dataDir: string): any[] {
  const db = new Database(join(dataDir, 'gatehouse.db'), { readonly: true });
  try {
    return db.prepare('SELECT * FROM vault_secrets ORDER BY id').all();
  } finally {
    db.close();
  }
}

describe('credential vault', () => {
  const dirs: string[] = [];
  const tempDir = () => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-vault-'));
    dirs.push(dir);
    return dir;
  };
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  describe('once started', () => {
    let ctx: NestContext;
    let vault: VaultService;
    const db = () => ctx.app.get(DataSource);
    beforeAll(async () => {
      ctx = await start();
      vault = ctx.app.get(VaultService);
    });
    afterAll(async () => {
      await ctx.close();
      ctx.cleanup();
    });

    it('stores strings and objects, and every write gets a fresh nonce', async () => {
      const owner = upstream('roundtrip');
      await vault.put(owner, 'header:X-Api-Key', 'plain-api-key-5b1e0c');
      await vault.put(owner, 'oauth_tokens', { access_token: 'upstream-at-77aa', refresh_token: 'upstream-rt-88bb', expires_at: 123 });
      expect(await vault.get(owner, 'header:X-Api-Key')).toBe('plain-api-key-5b1e0c');
      expect(await vault.getJson(owner, 'oauth_tokens')).toEqual({ access_token: 'upstream-at-77aa', refresh_token: 'upstream-rt-88bb', expires_at: 123 });
      expect(await vault.get(owner, 'credentials')).toBeNull();
      expect(await vault.get(upstream('nobody'), 'header:X-Api-Key')).toBeNull();

      const row = async () => (await db().query(`SELECT * FROM vault_secrets WHERE owner_id = 'roundtrip' AND purpose = 'header:X-Api-Key'`))[0];
      const before = await row();
      expect(before).toMatchObject({ owner_type: 'upstream', key_id: vault.keyId });
      await vault.put(owner, 'header:X-Api-Key', 'plain-api-key-5b1e0c'); // same value
      const same = await row();
      expect(same.id).toBe(before.id);
      expect(same.nonce).not.toBe(before.nonce);
      expect(same.ciphertext).not.toBe(before.ciphertext);
      await vault.put(owner, 'header:X-Api-Key', 'rotated-api-key-6c2f1d');
      const after = await row();
      expect(after.id).toBe(before.id);
      expect(new Set([before.nonce, same.nonce, after.nonce]).size).toBe(3);
      expect(after.ciphertext).not.toBe(same.ciphertext);
      expect(await vault.get(owner, 'header:X-Api-Key')).toBe('rotated-api-key-6c2f1d');

      expect(await vault.list(owner)).toEqual(['header:X-Api-Key', 'oauth_tokens']);
      expect(await vault.delete(owner, 'oauth_tokens')).toBe(1);
      expect(await vault.get(owner, 'oauth_tokens')).toBeNull();
      expect(await vault.delete(owner)).toBe(1);
      expect(await vault.list(owner)).toEqual([]);
    });

    it('concurrent puts of one new secret leave one row holding one of the values', async () => {
      const owner = upstream('race');
      await Promise.all(['v1', 'v2', 'v3', 'v4'].map((v) => vault.put(owner, 'credentials', `race-${v}`)));
      const rows = await db().query(`SELECT id FROM vault_secrets WHERE owner_id = 'race'`);
      expect(rows).toHaveLength(1);
      expect(['race-v1', 'race-v2', 'race-v3', 'race-v4']).toContain(await vault.get(owner, 'credentials'));
    });

    it('keeps no plaintext in the database (file and WAL, or rows)', async () => {
      const secrets = ['sqlite-plaintext-one-4d5e', 'sqlite-plaintext-two-9a8b', 'nested-token-value-3c2d'];
      await vault.put(upstream('files'), 'header:Authorization', secrets[0]);
      await vault.put({ type: 'user_upstream', id: 'user-1:files' }, 'credentials', secrets[1]);
      await vault.put(upstream('files'), 'oauth_tokens', { access_token: secrets[2] });
      const text = await storedText(ctx.dataDir);
      expect(text).toContain('vault_secrets');
      for (const s of secrets) expect(text).not.toContain(s);
      // Nor the master key, in either encoding.
      const key = parseMasterKey(readFileSync(join(ctx.dataDir, 'master.key'), 'utf8'), 'master.key');
      expect(text).not.toContain(key.toString('base64'));
      expect(text).not.toContain(key.toString('hex'));
      expect(text).not.toContain(key.toString('latin1'));
    });

    sqliteOnly('a ciphertext moved to another row, purpose or owner no longer decrypts', async () => {
      await vault.put(upstream('a'), 'header:X-Api-Key', 'secret-of-a-1111');
      await vault.put(upstream('b'), 'header:X-Api-Key', 'secret-of-b-2222');
      const [a] = await db().query(`SELECT * FROM vault_secrets WHERE owner_id = 'a'`);
      const [b] = await db().query(`SELECT * FROM vault_secrets WHERE owner_id = 'b'`);

      // Copy a's sealed value over b's.
      await db().query('UPDATE vault_secrets SET nonce = ?, ciphertext = ?, tag = ? WHERE id = ?', [a.nonce, a.ciphertext, a.tag, b.id]);
      const copied = vault.get(upstream('b'), 'header:X-Api-Key');
      await expect(copied).rejects.toThrow(VaultDecryptError);
      const message = await copied.catch((e: Error) => e.message);
      expect(message).toContain(b.id);
      expect(message).toContain('header:X-Api-Key');
      expect(message).not.toContain('secret-of-a-1111');

      // Re-label a's row with another purpose.
      await db().query(`UPDATE vault_secrets SET purpose = 'header:X-Other' WHERE id = ?`, [a.id]);
      await expect(vault.get(upstream('a'), 'header:X-Other')).rejects.toThrow(VaultDecryptError);
      await db().query(`UPDATE vault_secrets SET purpose = 'header:X-Api-Key' WHERE id = ?`, [a.id]);
      expect(await vault.get(upstream('a'), 'header:X-Api-Key')).toBe('secret-of-a-1111');

      // Shift a ':' between owner id and purpose: the associated data must still differ.
      await vault.put(upstream('c'), 'header:X', 'secret-of-c-3333');
      await db().query(`UPDATE vault_secrets SET owner_id = 'c:header', purpose = 'X' WHERE owner_id = 'c'`);
      // 'X' is no purpose the gateway writes: the row was relabelled by hand, past the typed API.
      await expect(vault.get(upstream('c:header'), 'X' as VaultPurpose)).rejects.toThrow(VaultDecryptError);

      // Another owner type.
      await vault.put(upstream('d'), 'credentials', 'secret-of-d-4444');
      await db().query(`UPDATE vault_secrets SET owner_type = 'user_upstream' WHERE owner_id = 'd'`);
      await expect(vault.get({ type: 'user_upstream', id: 'd' }, 'credentials')).rejects.toThrow(VaultDecryptError);

      const failures = await ctx.app.get(AuditService).list({ type: 'vault.read' });
      expect(failures.length).toBeGreaterThanOrEqual(4);
      expect(failures.find((r) => r.detail?.secret_id === b.id)).toMatchObject({ outcome: 'failure', detail: { owner_id: 'b', purpose: 'header:X-Api-Key' } });
    });

    it('audits every write and delete, with owner and purpose but never the value', async () => {
      await vault.put(upstream('audited'), 'oauth_client_secret', 'audited-client-secret-5555', { userId: 'admin-user-id' });
      await vault.put(upstream('audited'), 'oauth_tokens', { refresh_token: 'audited-refresh-6666' });
      await vault.delete(upstream('audited'), 'oauth_tokens', { userId: 'admin-user-id' });

      const audit = ctx.app.get(AuditService);
      const writes = await audit.list({ type: 'vault.write', limit: 1000 });
      const deletes = await audit.list({ type: 'vault.delete', limit: 1000 });
      expect(writes.find((r) => r.detail?.owner_id === 'audited' && r.detail?.purpose === 'oauth_client_secret')).toMatchObject({
        outcome: 'success',
        userId: 'admin-user-id',
        detail: { owner_type: 'upstream', owner_id: 'audited', purpose: 'oauth_client_secret' },
      });
      expect(writes.find((r) => r.detail?.owner_id === 'audited' && r.detail?.purpose === 'oauth_tokens')).toBeTruthy();
      expect(deletes.find((r) => r.detail?.owner_id === 'audited')).toMatchObject({ userId: 'admin-user-id', detail: { purpose: 'oauth_tokens' } });
      // One row per write, so every earlier test's writes are there too.
      expect(writes.filter((r) => r.detail?.owner_id === 'roundtrip' && r.detail?.purpose === 'header:X-Api-Key')).toHaveLength(3);

      const dump = JSON.stringify(await audit.list({ limit: 5000 }));
      for (const s of ['audited-client-secret-5555', 'audited-refresh-6666', 'plain-api-key-5b1e0c', 'rotated-api-key-6c2f1d', 'secret-of-a-1111', 'sqlite-plaintext-one-4d5e']) {
        expect(dump).not.toContain(s);
      }
    });
  });

  describe('the master key', () => {
    it('is created as DATA_DIR/master.key, mode 0600, on the first start and read back on the next', async () => {
      const dataDir = tempDir();
      let ctx = await start(dataDir);
      const file = join(dataDir, 'master.key');
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const firstKey = readFileSync(file, 'utf8');
      await ctx.app.get(VaultService).put(upstream('restart'), 'credentials', { user: 'u', password: 'restart-password-7777' });
      await ctx.close();

      ctx = await start(dataDir);
      try {
        expect(readFileSync(file, 'utf8')).toBe(firstKey);
        expect(await ctx.app.get(VaultService).getJson(upstream('restart'), 'credentials')).toEqual({ user: 'u', password: 'restart-password-7777' });
      } finally {
        await ctx.close();
      }

      // A key file every user can read is refused, with the fix in the message.
      chmodSync(file, 0o644);
      await expect(start(dataDir)).rejects.toThrow(/accessible to every user.*chmod 600/);
      chmodSync(file, 0o600);
    });

    it('from GATEHOUSE_MASTER_KEY is used instead of a file; a malformed one is refused without echoing it', async () => {
      const dataDir = tempDir();
      const key = newKey();
      const ctx = await start(dataDir, key);
      try {
        expect(existsSync(join(dataDir, 'master.key'))).toBe(false);
        expect(ctx.app.get(VaultService).keyId).toBe(keyIdOf(Buffer.from(key, 'base64')));
      } finally {
        await ctx.close();
      }
      const hexKey = Buffer.from(key, 'base64').toString('hex');
      const again = await start(dataDir, hexKey);
      await again.close();

      const bad = 'not-a-valid-master-key-value';
      const err = await start(dataDir, bad).catch((e: Error) => e);
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).toContain('GATEHOUSE_MASTER_KEY is not a valid master key');
      expect((err as Error).message).not.toContain(bad);
    });

    it('a wrong key fails the start with a clear message', async () => {
      const dataDir = tempDir();
      const ctx = await start(dataDir);
      await ctx.app.get(VaultService).put(upstream('x'), 'credentials', 'wrong-key-test-8888');
      const keyId = ctx.app.get(VaultService).keyId;
      await ctx.close();

      await expect(start(dataDir, newKey())).rejects.toThrow(`the master key does not match the one this database was encrypted with (key id ${keyId};`);
      // The right key still works afterwards.
      const ok = await start(dataDir);
      expect(await ok.app.get(VaultService).get(upstream('x'), 'credentials')).toBe('wrong-key-test-8888');
      await ok.close();

      // A missing key file is as clear.
      const saved = readFileSync(join(dataDir, 'master.key'));
      rmSync(join(dataDir, 'master.key'));
      await expect(start(dataDir)).rejects.toThrow(`encrypted with master key id ${keyId}, but no master key was found`);
      writeFileSync(join(dataDir, 'master.key'), saved, { mode: 0o600 });
    });

    sqliteOnly('a wrong key makes the real entry point exit 1 with that message', async () => {
      const dataDir = tempDir();
      const ctx = await start(dataDir);
      const keyId = ctx.app.get(VaultService).keyId;
      await ctx.close();
      const proc = spawnGateway({ DATA_DIR: dataDir, PORT: String(await freePort()), HOST: '127.0.0.1', GATEHOUSE_MASTER_KEY: newKey() }, tempDir());
      expect(await proc.exited).toBe(1);
      expect(proc.output()).toContain(`gatehouse: failed to start: the master key does not match the one this database was encrypted with (key id ${keyId};`);
      expect(proc.output()).toContain(`restore ${join(dataDir, 'master.key')}`);
    });
  });

  (testEngine() === 'sqlite' ? describe : describe.skip)('rotation (offline, SQLite; refused on PostgreSQL)', () => {
    const SECRETS: [VaultOwnerType, string, VaultPurpose][] = [
      ['upstream', 'alpha', 'header:X-Api-Key'],
      ['upstream', 'alpha', 'oauth_client_secret'],
      ['upstream', 'beta', 'header:Authorization'],
      ['user_upstream', 'user-1:alpha', 'oauth_tokens'],
      ['user_upstream', 'user-2:beta', 'credentials'],
    ];
    const value = (i: number) => `rotation-secret-${i}-${'x'.repeat(i)}`;

    async function seed(dataDir: string, key?: string): Promise<string> {
      const ctx = await start(dataDir, key);
      const vault = ctx.app.get(VaultService);
      for (const [i, [type, id, purpose]] of SECRETS.entries()) await vault.put({ type, id }, purpose, value(i));
      const keyId = vault.keyId;
      await ctx.close();
      return keyId;
    }

    async function expectAllReadable(ctx: NestContext): Promise<void> {
      const vault = ctx.app.get(VaultService);
      for (const [i, [type, id, purpose]] of SECRETS.entries()) expect(await vault.get({ type, id }, purpose)).toBe(value(i));
    }

    it('re-encrypts everything under the new key, replaces master.key, and the old key stops working', async () => {
      const dataDir = tempDir();
      const oldKeyId = await seed(dataDir);
      const keyFile = join(dataDir, 'master.key');
      const oldKey = parseMasterKey(readFileSync(keyFile, 'utf8'), 'old');
      const before = secretRows(dataDir);
      const next = randomBytes(32);

      const result = rotateMasterKey(dataDir, oldKey, next);
      expect(result).toEqual({ oldKeyId, newKeyId: keyIdOf(next), secrets: SECRETS.length, keyFile });
      expect(parseMasterKey(readFileSync(keyFile, 'utf8'), 'new').equals(next)).toBe(true);
      expect(statSync(keyFile).mode & 0o777).toBe(0o600);
      expect(existsSync(join(dataDir, 'master.key.new'))).toBe(false);
      const after = secretRows(dataDir);
      for (const [i, row] of after.entries()) {
        expect(row).toMatchObject({ id: before[i].id, key_id: keyIdOf(next) });
        expect(row.nonce).not.toBe(before[i].nonce);
        expect(row.ciphertext).not.toBe(before[i].ciphertext);
      }

      const ctx = await start(dataDir);
      try {
        expect(ctx.app.get(VaultService).keyId).toBe(keyIdOf(next));
        await expectAllReadable(ctx);
        const [rotation] = await ctx.app.get(AuditService).list({ type: 'vault.rotate' });
        expect(rotation).toMatchObject({ outcome: 'success', detail: { old_key_id: oldKeyId, new_key_id: keyIdOf(next), secrets: SECRETS.length } });
      } finally {
        await ctx.close();
      }
      await expect(start(dataDir, oldKey.toString('base64'))).rejects.toThrow(`the master key does not match the one this database was encrypted with (key id ${keyIdOf(next)};`);
      // Rotating again with the old key is refused the same way.
      expect(() => rotateMasterKey(dataDir, oldKey, randomBytes(32), { keySource: 'env' })).toThrow('does not match');
    });

    it('a rotation that fails midway rolls back: old key still valid, master.key unchanged', async () => {
      const dataDir = tempDir();
      const oldKeyId = await seed(dataDir);
      const keyFile = join(dataDir, 'master.key');
      const keyText = readFileSync(keyFile, 'utf8');
      const oldKey = parseMasterKey(keyText, 'old');

      // Corrupt the tag of the row the rotation reaches last, so the others are re-encrypted first.
      const db = new Database(join(dataDir, 'gatehouse.db'));
      const last = db.prepare('SELECT id, tag FROM vault_secrets ORDER BY created_at DESC, id DESC LIMIT 1').get() as { id: string; tag: string };
      db.prepare('UPDATE vault_secrets SET tag = ? WHERE id = ?').run(randomBytes(16).toString('base64'), last.id);
      db.close();
      const before = secretRows(dataDir);

      expect(() => rotateMasterKey(dataDir, oldKey, randomBytes(32))).toThrow(VaultDecryptError);
      expect(readFileSync(keyFile, 'utf8')).toBe(keyText);
      expect(existsSync(join(dataDir, 'master.key.new'))).toBe(false);
      expect(secretRows(dataDir)).toEqual(before);

      // Undo the corruption: every secret reads back under the old key.
      const fix = new Database(join(dataDir, 'gatehouse.db'));
      fix.prepare('UPDATE vault_secrets SET tag = ? WHERE id = ?').run(last.tag, last.id);
      fix.close();
      const ctx = await start(dataDir);
      try {
        expect(ctx.app.get(VaultService).keyId).toBe(oldKeyId);
        await expectAllReadable(ctx);
        const [failure] = await ctx.app.get(AuditService).list({ type: 'vault.rotate' });
        expect(failure).toMatchObject({ outcome: 'failure', detail: { old_key_id: oldKeyId } });
        expect(JSON.stringify(failure)).not.toContain('rotation-secret');
      } finally {
        await ctx.close();
      }
    });

    it('a crash between the commit and the key-file rename is finished by the next start', async () => {
      const dataDir = tempDir();
      await seed(dataDir);
      const keyFile = join(dataDir, 'master.key');
      const oldText = readFileSync(keyFile, 'utf8');
      const next = randomBytes(32);
      rotateMasterKey(dataDir, parseMasterKey(oldText, 'old'), next);
      // Put the files back as they were just before the rename.
      writeFileSync(join(dataDir, 'master.key.new'), readFileSync(keyFile), { mode: 0o600 });
      writeFileSync(keyFile, oldText, { mode: 0o600 });

      const ctx = await start(dataDir);
      try {
        expect(ctx.app.get(VaultService).keyId).toBe(keyIdOf(next));
        await expectAllReadable(ctx);
      } finally {
        await ctx.close();
      }
      expect(parseMasterKey(readFileSync(keyFile, 'utf8'), 'now').equals(next)).toBe(true);
      expect(existsSync(join(dataDir, 'master.key.new'))).toBe(false);
    });

    it('the CLI rotates an environment key and prints the new key once', async () => {
      const dataDir = tempDir();
      const oldKey = newKey();
      const oldKeyId = await seed(dataDir, oldKey);

      const wrong = await runRotateCli(['--data-dir', dataDir], { GATEHOUSE_MASTER_KEY: newKey() });
      expect(wrong.code).toBe(1);
      expect(wrong.output).toContain('does not match');
      expect(wrong.output).toContain('Nothing was changed');

      const run = await runRotateCli(['--data-dir', dataDir], { GATEHOUSE_MASTER_KEY: oldKey });
      expect(run.code).toBe(0);
      expect(run.output).toContain('the gateway must be stopped');
      expect(run.output).toContain(`Re-encrypted ${SECRETS.length} secret(s): master key id ${oldKeyId} -> `);
      const printed = /New master key[^\n]*\n\n\s+(\S+)\n/.exec(run.output)![1];
      expect(run.output.split(printed)).toHaveLength(2);
      expect(existsSync(join(dataDir, 'master.key'))).toBe(false);

      const ctx = await start(dataDir, printed);
      try {
        await expectAllReadable(ctx);
      } finally {
        await ctx.close();
      }
      await expect(start(dataDir, oldKey)).rejects.toThrow('does not match');

      // --new-key with a file key: master.key is replaced, nothing printed.
      const fileDir = tempDir();
      await seed(fileDir);
      const chosen = randomBytes(32).toString('hex');
      const byFile = await runRotateCli(['--data-dir', fileDir, `--new-key=${chosen}`], {});
      expect(byFile.code).toBe(0);
      expect(byFile.output).not.toContain(chosen);
      expect(parseMasterKey(readFileSync(join(fileDir, 'master.key'), 'utf8'), 'now').toString('hex')).toBe(chosen);
    });
  });
});

/** Runs server/src/vault/rotate.cli.ts the way `npm run vault:rotate` does in development. */
function runRotateCli(args: string[], env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const proc = spawn(process.execPath, ['--require', 'ts-node/register/transpile-only', join(ROOT, 'server', 'src', 'vault', 'rotate.cli.ts'), ...args], {
    cwd: ROOT,
    env: { ...process.env, GATEHOUSE_MASTER_KEY: undefined, TS_NODE_PROJECT: join(ROOT, 'tsconfig.json'), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  proc.stdout.on('data', (d) => (output += d));
  proc.stderr.on('data', (d) => (output += d));
  return new Promise((resolve) => proc.on('exit', (code) => resolve({ code, output })));
}
