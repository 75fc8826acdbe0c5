import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import 'reflect-metadata';
import { BadRequestException } from '@nestjs/common';
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { DataSource } from 'typeorm';
import { clampLimit, decodeCursor, encodeCursor, pageOf, pageRequest } from '../../server/src/admin/pagination';
import { CreateUserDto, ListUsersQuery } from '../../server/src/admin/users.dto';
import { fieldProblems } from '../../server/src/admin/validation';
import { MIGRATIONS } from '../../server/src/database/migrations';
import { UserRolesAndInvites1795692346984 } from '../../server/src/database/migrations/1795692346984-user-roles-and-invites';

describe('admin pagination', () => {
  it('clamps the limit to 1..200, 50 by default', () => {
    expect([undefined, 0, -5, 1, 73, 200, 201, 10_000].map(clampLimit)).toEqual([50, 1, 1, 1, 73, 200, 200, 200]);
  });

  it('round-trips keys of any shape through an opaque base64url cursor', () => {
    const cursor = encodeCursor(['b@example.test']);
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(cursor)).toEqual(['b@example.test']);
    const twoPart = encodeCursor([1795692346984, 'id-1']);
    expect(decodeCursor(twoPart, ['number', 'string'])).toEqual([1795692346984, 'id-1']);
    expect(decodeCursor(undefined)).toBeNull();
    expect(decodeCursor('')).toBeNull();
  });

  it.each([
    ['not base64url JSON', '%%%'],
    ['JSON that is no array', Buffer.from('{"a":1}').toString('base64url')],
    ['a key of the wrong shape', encodeCursor([1, 'x'])],
    ['a key of the wrong length', encodeCursor(['a', 'b'])],
  ])('refuses %s with a 400 naming `cursor`', (_name, cursor) => {
    let thrown: unknown;
    try {
      decodeCursor(cursor);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(BadRequestException);
    expect((thrown as BadRequestException).getResponse()).toEqual({
      error: 'invalid_request',
      message: 'cursor is not a cursor from this list',
      fields: { cursor: 'is not a cursor from this list' },
    });
  });

  it('keeps a page of `limit` rows and makes the next cursor only when there were more', () => {
    const rows = ['a', 'b', 'c'].map((email) => ({ email }));
    const page = pageRequest({ limit: 2 });
    expect(page).toEqual({ after: null, limit: 2, fetch: 3 });
    const first = pageOf(
      rows,
      page.limit,
      (r) => [r.email],
      (r) => r.email,
    );
    expect(first).toEqual({ items: ['a', 'b'], nextCursor: encodeCursor(['b']) });
    expect(pageRequest({ limit: 2, cursor: first.nextCursor! }).after).toEqual(['b']);
    expect(
      pageOf(
        rows.slice(2),
        2,
        (r) => [r.email],
        (r) => r.email,
      ),
    ).toEqual({ items: ['c'], nextCursor: null });
  });
});

describe('admin DTO errors name each field', () => {
  const problems = (cls: new () => object, plain: object) => fieldProblems(validateSync(plainToInstance(cls, plain), { whitelist: true, forbidNonWhitelisted: true }));

  it('reports a missing field as required, a wrong type by its type, an unknown field as unknown', () => {
    expect(problems(CreateUserDto, { name: 5, extra: 1 })).toEqual({ email: 'is required', name: 'must be a string', extra: 'is not a known field' });
    expect(problems(CreateUserDto, { email: 'a@example.test', role: 'root' })).toEqual({ role: 'must be one of: admin, member, auditor' });
    expect(problems(CreateUserDto, { email: ' a@example.test ' })).toEqual({});
  });

  it('reads booleans and numbers from query strings', () => {
    const query = plainToInstance(ListUsersQuery, { disabled: 'false', limit: '20' });
    expect(query).toMatchObject({ disabled: false, limit: 20 });
    expect(problems(ListUsersQuery, { disabled: 'no', limit: 'many' })).toEqual({ disabled: 'must be true or false', limit: 'must be an integer number' });
  });
});

describe('migration: users.is_admin becomes users.role', () => {
  it('keeps admins admins and everyone else a member, and goes back', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-roles-migration-'));
    const open = async (migrations: typeof MIGRATIONS) => {
      const ds = new DataSource({ type: 'better-sqlite3', database: join(dir, 'db.sqlite'), migrations });
      await ds.initialize();
      await ds.runMigrations();
      return ds;
    };
    // Up to the roles migration, whatever migrations come after it.
    const roles = MIGRATIONS.indexOf(UserRolesAndInvites1795692346984);
    try {
      const before = await open(MIGRATIONS.slice(0, roles));
      const insert = 'INSERT INTO users (id, email, password_hash, display_name, is_admin, disabled, created_at, last_login_at) VALUES (?, ?, ?, NULL, ?, 0, 1, NULL)';
      await before.query(insert, ['a', 'admin@example.test', '$argon2id$x', 1]);
      await before.query(insert, ['m', 'member@example.test', '$argon2id$y', 0]);
      await before.destroy();

      const ds = await open(MIGRATIONS.slice(0, roles + 1));
      expect(await ds.query('SELECT id, role, password_hash FROM users ORDER BY id')).toEqual([
        { id: 'a', role: 'admin', password_hash: '$argon2id$x' },
        { id: 'm', role: 'member', password_hash: '$argon2id$y' },
      ]);
      await ds.query(
        "INSERT INTO users (id, email, password_hash, display_name, disabled, created_at, last_login_at, role) VALUES ('i', 'invited@example.test', NULL, NULL, 0, 1, NULL, 'auditor')",
      );

      await ds.undoLastMigration();
      expect(await ds.query('SELECT id, is_admin, password_hash FROM users ORDER BY id')).toEqual([
        { id: 'a', is_admin: 1, password_hash: '$argon2id$x' },
        { id: 'i', is_admin: 0, password_hash: '!' },
        { id: 'm', is_admin: 0, password_hash: '$argon2id$y' },
      ]);
      await ds.destroy();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
