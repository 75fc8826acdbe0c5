import { MigrationInterface, QueryRunner } from 'typeorm';

/** Remembers where each registration came from, to cap clients that re-register on every sign-in. */
export class ClientRegistrationSource1764160000000 implements MigrationInterface {
  name = 'ClientRegistrationSource1764160000000';

  async up(q: QueryRunner): Promise<void> {
    for (const sql of [
      'CREATE TABLE "temporary_oauth_clients" ("client_id" text PRIMARY KEY NOT NULL, "client_secret_hash" text, "client_name" text, "redirect_uris" text NOT NULL, "token_endpoint_auth_method" text NOT NULL, "grant_types" text NOT NULL, "response_types" text NOT NULL, "scope" text, "extra_metadata" text NOT NULL, "created_at" integer NOT NULL, "last_used_at" integer, "registration_source" text)',
      'INSERT INTO "temporary_oauth_clients"("client_id", "client_secret_hash", "client_name", "redirect_uris", "token_endpoint_auth_method", "grant_types", "response_types", "scope", "extra_metadata", "created_at", "last_used_at") SELECT "client_id", "client_secret_hash", "client_name", "redirect_uris", "token_endpoint_auth_method", "grant_types", "response_types", "scope", "extra_metadata", "created_at", "last_used_at" FROM "oauth_clients"',
      'DROP TABLE "oauth_clients"',
      'ALTER TABLE "temporary_oauth_clients" RENAME TO "oauth_clients"',
      'CREATE INDEX "IDX_d5463479402eca0b74fdb538d0" ON "oauth_clients" ("registration_source", "created_at") ',
    ]) {
      await q.query(sql);
    }
  }

  async down(q: QueryRunner): Promise<void> {
    for (const sql of [
      'DROP INDEX "IDX_d5463479402eca0b74fdb538d0"',
      'ALTER TABLE "oauth_clients" RENAME TO "temporary_oauth_clients"',
      'CREATE TABLE "oauth_clients" ("client_id" text PRIMARY KEY NOT NULL, "client_secret_hash" text, "client_name" text, "redirect_uris" text NOT NULL, "token_endpoint_auth_method" text NOT NULL, "grant_types" text NOT NULL, "response_types" text NOT NULL, "scope" text, "extra_metadata" text NOT NULL, "created_at" integer NOT NULL, "last_used_at" integer)',
      'INSERT INTO "oauth_clients"("client_id", "client_secret_hash", "client_name", "redirect_uris", "token_endpoint_auth_method", "grant_types", "response_types", "scope", "extra_metadata", "created_at", "last_used_at") SELECT "client_id", "client_secret_hash", "client_name", "redirect_uris", "token_endpoint_auth_method", "grant_types", "response_types", "scope", "extra_metadata", "created_at", "last_used_at" FROM "temporary_oauth_clients"',
      'DROP TABLE "temporary_oauth_clients"',
    ]) {
      await q.query(sql);
    }
  }
}
