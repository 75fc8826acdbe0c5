import { MigrationInterface, QueryRunner } from 'typeorm';

/** The encrypted credential vault: sealed upstream secrets and the key-check row of each master key. */
export class Vault1764150000000 implements MigrationInterface {
  name = 'Vault1764150000000';

  async up(q: QueryRunner): Promise<void> {
    for (const sql of [
      'CREATE TABLE "vault_secrets" ("id" text PRIMARY KEY NOT NULL, "owner_type" text NOT NULL, "owner_id" text NOT NULL, "purpose" text NOT NULL, "key_id" text NOT NULL, "nonce" text NOT NULL, "ciphertext" text NOT NULL, "tag" text NOT NULL, "created_at" integer NOT NULL, "updated_at" integer NOT NULL, CONSTRAINT "UQ_6ff21fd454c32eeadaa5230d09c" UNIQUE ("owner_type", "owner_id", "purpose"))',
      'CREATE TABLE "vault_keys" ("key_id" text PRIMARY KEY NOT NULL, "nonce" text NOT NULL, "ciphertext" text NOT NULL, "tag" text NOT NULL, "created_at" integer NOT NULL)',
    ]) {
      await q.query(sql);
    }
  }

  async down(q: QueryRunner): Promise<void> {
    for (const sql of ['DROP TABLE "vault_keys"', 'DROP TABLE "vault_secrets"']) {
      await q.query(sql);
    }
  }
}
