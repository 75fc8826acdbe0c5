import { MigrationInterface, QueryRunner } from 'typeorm';

/** grants.last_used_at, and the indexes of the admin API's grants and clients lists (keyset pagination, newest first). */
export class GrantsLastUsedAndListIndexes1795694715951 implements MigrationInterface {
  name = 'GrantsLastUsedAndListIndexes1795694715951';

  async up(q: QueryRunner): Promise<void> {
    for (const sql of [
      'DROP INDEX "IDX_b3f19f63cb7739c57ef17899fb"',
      'DROP INDEX "IDX_501eb48e321a0f302707ec42aa"',
      'CREATE TABLE "temporary_grants" ("id" text PRIMARY KEY NOT NULL, "user_id" text NOT NULL, "client_id" text NOT NULL, "upstream_slug" text NOT NULL, "scope" text NOT NULL, "created_at" integer NOT NULL, "revoked_at" integer, "revoked_reason" text, "last_used_at" integer)',
      'INSERT INTO "temporary_grants"("id", "user_id", "client_id", "upstream_slug", "scope", "created_at", "revoked_at", "revoked_reason") SELECT "id", "user_id", "client_id", "upstream_slug", "scope", "created_at", "revoked_at", "revoked_reason" FROM "grants"',
      'DROP TABLE "grants"',
      'ALTER TABLE "temporary_grants" RENAME TO "grants"',
      'CREATE INDEX "IDX_efdd5d522c93a9ecbb801d6950" ON "oauth_clients" ("created_at", "client_id") ',
      'CREATE INDEX "IDX_05da858713264508a2cf3bda19" ON "grants" ("created_at", "id") ',
      'CREATE INDEX "IDX_be9429398e93db00044e797b0a" ON "grants" ("revoked_at", "created_at", "id") ',
      'CREATE INDEX "IDX_79e46a61b1b124a680b9292f9b" ON "grants" ("upstream_slug", "created_at", "id") ',
      'CREATE INDEX "IDX_777c1b8882d0eee87f6323c984" ON "grants" ("client_id", "created_at", "id") ',
      'CREATE INDEX "IDX_9142d9a59cf58a69182d6dca1c" ON "grants" ("user_id", "created_at", "id") ',
    ]) {
      await q.query(sql);
    }
  }

  async down(q: QueryRunner): Promise<void> {
    for (const sql of [
      'DROP INDEX "IDX_9142d9a59cf58a69182d6dca1c"',
      'DROP INDEX "IDX_777c1b8882d0eee87f6323c984"',
      'DROP INDEX "IDX_79e46a61b1b124a680b9292f9b"',
      'DROP INDEX "IDX_be9429398e93db00044e797b0a"',
      'DROP INDEX "IDX_05da858713264508a2cf3bda19"',
      'DROP INDEX "IDX_efdd5d522c93a9ecbb801d6950"',
      'ALTER TABLE "grants" RENAME TO "temporary_grants"',
      'CREATE TABLE "grants" ("id" text PRIMARY KEY NOT NULL, "user_id" text NOT NULL, "client_id" text NOT NULL, "upstream_slug" text NOT NULL, "scope" text NOT NULL, "created_at" integer NOT NULL, "revoked_at" integer, "revoked_reason" text)',
      'INSERT INTO "grants"("id", "user_id", "client_id", "upstream_slug", "scope", "created_at", "revoked_at", "revoked_reason") SELECT "id", "user_id", "client_id", "upstream_slug", "scope", "created_at", "revoked_at", "revoked_reason" FROM "temporary_grants"',
      'DROP TABLE "temporary_grants"',
      'CREATE INDEX "IDX_501eb48e321a0f302707ec42aa" ON "grants" ("user_id") ',
      'CREATE INDEX "IDX_b3f19f63cb7739c57ef17899fb" ON "grants" ("client_id") ',
    ]) {
      await q.query(sql);
    }
  }
}
