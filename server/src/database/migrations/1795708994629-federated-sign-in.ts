import { MigrationInterface, QueryRunner } from 'typeorm';

export class FederatedSignIn1795708994629 implements MigrationInterface {
  name = 'FederatedSignIn1795708994629';

  async up(q: QueryRunner): Promise<void> {
    for (const sql of [
      'CREATE TABLE "federated_identities" ("provider" text NOT NULL, "subject" text NOT NULL, "user_id" text NOT NULL, "email" text, "linked_at" integer NOT NULL, "last_sign_in_at" integer NOT NULL, PRIMARY KEY ("provider", "subject"))',
      'CREATE INDEX "IDX_e69265633ea3123bf964db2551" ON "federated_identities" ("user_id") ',
      // A nullable column: SQLite adds it in place, no copy of the table.
      'ALTER TABLE "groups" ADD COLUMN "source" text',
      'CREATE TABLE "identity_providers" ("id" text PRIMARY KEY NOT NULL, "name" text NOT NULL, "issuer" text NOT NULL, "client_id" text NOT NULL, "scopes" text NOT NULL, "groups_claim" text NOT NULL, "new_users" text NOT NULL, "allowed_email_domains" text NOT NULL, "created_at" integer NOT NULL, "updated_at" integer NOT NULL)',
    ]) {
      await q.query(sql);
    }
  }

  async down(q: QueryRunner): Promise<void> {
    for (const sql of [
      'DROP TABLE "identity_providers"',
      'ALTER TABLE "groups" RENAME TO "temporary_groups"',
      'CREATE TABLE "groups" ("id" text PRIMARY KEY NOT NULL, "name" text NOT NULL, "created_at" integer NOT NULL, CONSTRAINT "UQ_664ea405ae2a10c264d582ee563" UNIQUE ("name"))',
      'INSERT INTO "groups"("id", "name", "created_at") SELECT "id", "name", "created_at" FROM "temporary_groups"',
      'DROP TABLE "temporary_groups"',
      'DROP INDEX "IDX_e69265633ea3123bf964db2551"',
      'DROP TABLE "federated_identities"',
    ]) {
      await q.query(sql);
    }
  }
}
