import { MigrationInterface, QueryRunner } from 'typeorm';

/** Lets a refresh retried after a restart get the pair its token was rotated into (grants/refresh-rotation.ts). */
export class RefreshRotationNonce1795691461782 implements MigrationInterface {
  name = 'RefreshRotationNonce1795691461782';

  async up(q: QueryRunner): Promise<void> {
    for (const sql of [
      'DROP INDEX "IDX_8578bf8bd718bc77dd57134b1d"',
      'CREATE TABLE "temporary_refresh_tokens" ("token_hash" text PRIMARY KEY NOT NULL, "grant_id" text NOT NULL, "created_at" integer NOT NULL, "expires_at" integer NOT NULL, "rotated_at" integer, "rotation_nonce" text)',
      'INSERT INTO "temporary_refresh_tokens"("token_hash", "grant_id", "created_at", "expires_at", "rotated_at") SELECT "token_hash", "grant_id", "created_at", "expires_at", "rotated_at" FROM "refresh_tokens"',
      'DROP TABLE "refresh_tokens"',
      'ALTER TABLE "temporary_refresh_tokens" RENAME TO "refresh_tokens"',
      'CREATE INDEX "IDX_8578bf8bd718bc77dd57134b1d" ON "refresh_tokens" ("grant_id") ',
    ]) {
      await q.query(sql);
    }
  }

  async down(q: QueryRunner): Promise<void> {
    for (const sql of [
      'DROP INDEX "IDX_8578bf8bd718bc77dd57134b1d"',
      'ALTER TABLE "refresh_tokens" RENAME TO "temporary_refresh_tokens"',
      'CREATE TABLE "refresh_tokens" ("token_hash" text PRIMARY KEY NOT NULL, "grant_id" text NOT NULL, "created_at" integer NOT NULL, "expires_at" integer NOT NULL, "rotated_at" integer)',
      'INSERT INTO "refresh_tokens"("token_hash", "grant_id", "created_at", "expires_at", "rotated_at") SELECT "token_hash", "grant_id", "created_at", "expires_at", "rotated_at" FROM "temporary_refresh_tokens"',
      'DROP TABLE "temporary_refresh_tokens"',
      'CREATE INDEX "IDX_8578bf8bd718bc77dd57134b1d" ON "refresh_tokens" ("grant_id") ',
    ]) {
      await q.query(sql);
    }
  }
}
