import { MigrationInterface, QueryRunner } from 'typeorm';

export class Initial1764140000000 implements MigrationInterface {
  name = 'Initial1764140000000';

  async up(q: QueryRunner): Promise<void> {
    for (const sql of [
      'CREATE TABLE "users" ("id" text PRIMARY KEY NOT NULL, "email" text NOT NULL, "password_hash" text NOT NULL, "display_name" text, "is_admin" boolean NOT NULL DEFAULT (0), "disabled" boolean NOT NULL DEFAULT (0), "created_at" integer NOT NULL, "last_login_at" integer, CONSTRAINT "UQ_97672ac88f789774dd47f7c8be3" UNIQUE ("email"))',
      'CREATE TABLE "login_sessions" ("id_hash" text PRIMARY KEY NOT NULL, "user_id" text NOT NULL, "created_at" integer NOT NULL, "expires_at" integer NOT NULL)',
      'CREATE INDEX "IDX_b5edc6cc3a246a811005a96e06" ON "login_sessions" ("user_id") ',
      'CREATE TABLE "oauth_clients" ("client_id" text PRIMARY KEY NOT NULL, "client_secret_hash" text, "client_name" text, "redirect_uris" text NOT NULL, "token_endpoint_auth_method" text NOT NULL, "grant_types" text NOT NULL, "response_types" text NOT NULL, "scope" text, "extra_metadata" text NOT NULL, "created_at" integer NOT NULL, "last_used_at" integer)',
      'CREATE TABLE "consents" ("id" integer PRIMARY KEY AUTOINCREMENT NOT NULL, "user_id" text NOT NULL, "client_id" text NOT NULL, "upstream_slug" text NOT NULL, "scope" text NOT NULL, "created_at" integer NOT NULL, CONSTRAINT "UQ_80e4598cedf56f6da3c95371dd2" UNIQUE ("user_id", "client_id", "upstream_slug"))',
      'CREATE TABLE "authorization_codes" ("code_hash" text PRIMARY KEY NOT NULL, "client_id" text NOT NULL, "user_id" text NOT NULL, "upstream_slug" text NOT NULL, "redirect_uri" text NOT NULL, "code_challenge" text NOT NULL, "scope" text NOT NULL, "expires_at" integer NOT NULL, "used_at" integer, "grant_id" text)',
      'CREATE TABLE "grants" ("id" text PRIMARY KEY NOT NULL, "user_id" text NOT NULL, "client_id" text NOT NULL, "upstream_slug" text NOT NULL, "scope" text NOT NULL, "created_at" integer NOT NULL, "revoked_at" integer, "revoked_reason" text)',
      'CREATE INDEX "IDX_501eb48e321a0f302707ec42aa" ON "grants" ("user_id") ',
      'CREATE INDEX "IDX_b3f19f63cb7739c57ef17899fb" ON "grants" ("client_id") ',
      'CREATE TABLE "refresh_tokens" ("token_hash" text PRIMARY KEY NOT NULL, "grant_id" text NOT NULL, "created_at" integer NOT NULL, "expires_at" integer NOT NULL, "rotated_at" integer)',
      'CREATE INDEX "IDX_8578bf8bd718bc77dd57134b1d" ON "refresh_tokens" ("grant_id") ',
      'CREATE TABLE "access_tokens" ("token_hash" text PRIMARY KEY NOT NULL, "grant_id" text NOT NULL, "client_id" text NOT NULL, "user_id" text NOT NULL, "upstream_slug" text NOT NULL, "scope" text NOT NULL, "expires_at" integer NOT NULL)',
      'CREATE INDEX "IDX_43afe32d20c1a486faa1ea786b" ON "access_tokens" ("grant_id") ',
      'CREATE TABLE "audit_events" ("id" integer PRIMARY KEY AUTOINCREMENT NOT NULL, "at" integer NOT NULL, "type" text NOT NULL, "outcome" text NOT NULL, "user_id" text, "client_id" text, "upstream_slug" text, "mcp_method" text, "status" integer, "duration_ms" integer, "ip" text, "detail" text)',
      'CREATE INDEX "IDX_3648e11676f1929b9875ee272b" ON "audit_events" ("at") ',
      'CREATE INDEX "IDX_46f9873edb2bcfdb1124f071fb" ON "audit_events" ("type") ',
    ]) {
      await q.query(sql);
    }
  }

  async down(q: QueryRunner): Promise<void> {
    for (const sql of [
      'DROP INDEX "IDX_46f9873edb2bcfdb1124f071fb"',
      'DROP INDEX "IDX_3648e11676f1929b9875ee272b"',
      'DROP TABLE "audit_events"',
      'DROP INDEX "IDX_43afe32d20c1a486faa1ea786b"',
      'DROP TABLE "access_tokens"',
      'DROP INDEX "IDX_8578bf8bd718bc77dd57134b1d"',
      'DROP TABLE "refresh_tokens"',
      'DROP INDEX "IDX_b3f19f63cb7739c57ef17899fb"',
      'DROP INDEX "IDX_501eb48e321a0f302707ec42aa"',
      'DROP TABLE "grants"',
      'DROP TABLE "authorization_codes"',
      'DROP TABLE "consents"',
      'DROP TABLE "oauth_clients"',
      'DROP INDEX "IDX_b5edc6cc3a246a811005a96e06"',
      'DROP TABLE "login_sessions"',
      'DROP TABLE "users"',
    ]) {
      await q.query(sql);
    }
  }
}
