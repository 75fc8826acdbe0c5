import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * users.is_admin becomes users.role ('admin' | 'member' | 'auditor'; admins keep 'admin'), and a
 * password becomes optional (an invited user has none until they open their link); invite_tokens
 * holds the hashes of those one-time links. SQLite changes a column only by rebuilding the table.
 */
export class UserRolesAndInvites1795692346984 implements MigrationInterface {
  name = 'UserRolesAndInvites1795692346984';

  async up(q: QueryRunner): Promise<void> {
    for (const sql of [
      'CREATE TABLE "invite_tokens" ("token_hash" text PRIMARY KEY NOT NULL, "user_id" text NOT NULL, "purpose" text NOT NULL, "created_at" integer NOT NULL, "expires_at" integer NOT NULL, "used_at" integer)',
      'CREATE INDEX "IDX_e784f26221df4e5537b3ca7a4c" ON "invite_tokens" ("user_id") ',
      `CREATE TABLE "temporary_users" ("id" text PRIMARY KEY NOT NULL, "email" text NOT NULL, "password_hash" text, "display_name" text, "disabled" boolean NOT NULL DEFAULT (0), "created_at" integer NOT NULL, "last_login_at" integer, "role" text NOT NULL DEFAULT ('member'), CONSTRAINT "UQ_97672ac88f789774dd47f7c8be3" UNIQUE ("email"))`,
      `INSERT INTO "temporary_users"("id", "email", "password_hash", "display_name", "disabled", "created_at", "last_login_at", "role") SELECT "id", "email", "password_hash", "display_name", "disabled", "created_at", "last_login_at", CASE WHEN "is_admin" THEN 'admin' ELSE 'member' END FROM "users"`,
      'DROP TABLE "users"',
      'ALTER TABLE "temporary_users" RENAME TO "users"',
    ]) {
      await q.query(sql);
    }
  }

  async down(q: QueryRunner): Promise<void> {
    for (const sql of [
      'ALTER TABLE "users" RENAME TO "temporary_users"',
      'CREATE TABLE "users" ("id" text PRIMARY KEY NOT NULL, "email" text NOT NULL, "password_hash" text NOT NULL, "display_name" text, "is_admin" boolean NOT NULL DEFAULT (0), "disabled" boolean NOT NULL DEFAULT (0), "created_at" integer NOT NULL, "last_login_at" integer, CONSTRAINT "UQ_97672ac88f789774dd47f7c8be3" UNIQUE ("email"))',
      // A user without a password (an open invite) gets one nobody knows: '!' is no argon2 hash.
      `INSERT INTO "users"("id", "email", "password_hash", "display_name", "is_admin", "disabled", "created_at", "last_login_at") SELECT "id", "email", COALESCE("password_hash", '!'), "display_name", "role" = 'admin', "disabled", "created_at", "last_login_at" FROM "temporary_users"`,
      'DROP TABLE "temporary_users"',
      'DROP INDEX "IDX_e784f26221df4e5537b3ca7a4c"',
      'DROP TABLE "invite_tokens"',
    ]) {
      await q.query(sql);
    }
  }
}
