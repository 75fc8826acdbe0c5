import { MigrationInterface, QueryRunner } from 'typeorm';

export class UpstreamTransports1795708612245 implements MigrationInterface {
  name = 'UpstreamTransports1795708612245';

  async up(q: QueryRunner): Promise<void> {
    for (const sql of [
      'CREATE TABLE "temporary_upstreams" ("slug" text PRIMARY KEY NOT NULL, "name" text NOT NULL, "url" text NOT NULL, "enabled" boolean NOT NULL DEFAULT (1), "timeout_ms" integer NOT NULL, "scopes" text NOT NULL, "auth_mode" text NOT NULL, "auth_settings" text NOT NULL, "allow_list" text NOT NULL, "source" text NOT NULL, "created_at" integer NOT NULL, "updated_at" integer NOT NULL, "transport" text NOT NULL DEFAULT (\'http\'), "transport_settings" text)',
      'INSERT INTO "temporary_upstreams"("slug", "name", "url", "enabled", "timeout_ms", "scopes", "auth_mode", "auth_settings", "allow_list", "source", "created_at", "updated_at") SELECT "slug", "name", "url", "enabled", "timeout_ms", "scopes", "auth_mode", "auth_settings", "allow_list", "source", "created_at", "updated_at" FROM "upstreams"',
      'DROP TABLE "upstreams"',
      'ALTER TABLE "temporary_upstreams" RENAME TO "upstreams"',
    ]) {
      await q.query(sql);
    }
  }

  async down(q: QueryRunner): Promise<void> {
    for (const sql of [
      'ALTER TABLE "upstreams" RENAME TO "temporary_upstreams"',
      'CREATE TABLE "upstreams" ("slug" text PRIMARY KEY NOT NULL, "name" text NOT NULL, "url" text NOT NULL, "enabled" boolean NOT NULL DEFAULT (1), "timeout_ms" integer NOT NULL, "scopes" text NOT NULL, "auth_mode" text NOT NULL, "auth_settings" text NOT NULL, "allow_list" text NOT NULL, "source" text NOT NULL, "created_at" integer NOT NULL, "updated_at" integer NOT NULL)',
      'INSERT INTO "upstreams"("slug", "name", "url", "enabled", "timeout_ms", "scopes", "auth_mode", "auth_settings", "allow_list", "source", "created_at", "updated_at") SELECT "slug", "name", "url", "enabled", "timeout_ms", "scopes", "auth_mode", "auth_settings", "allow_list", "source", "created_at", "updated_at" FROM "temporary_upstreams"',
      'DROP TABLE "temporary_upstreams"',
    ]) {
      await q.query(sql);
    }
  }
}
