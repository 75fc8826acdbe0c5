import { MigrationInterface, QueryRunner } from 'typeorm';

export class UpstreamRegistryAndGroups1795677118358 implements MigrationInterface {
  name = 'UpstreamRegistryAndGroups1795677118358';

  async up(q: QueryRunner): Promise<void> {
    for (const sql of [
      'CREATE TABLE "group_members" ("group_id" text NOT NULL, "user_id" text NOT NULL, PRIMARY KEY ("group_id", "user_id"))',
      'CREATE INDEX "IDX_20a555b299f75843aa53ff8b0e" ON "group_members" ("user_id") ',
      'CREATE TABLE "groups" ("id" text PRIMARY KEY NOT NULL, "name" text NOT NULL, "created_at" integer NOT NULL, CONSTRAINT "UQ_664ea405ae2a10c264d582ee563" UNIQUE ("name"))',
      'CREATE TABLE "upstreams" ("slug" text PRIMARY KEY NOT NULL, "name" text NOT NULL, "url" text NOT NULL, "enabled" boolean NOT NULL DEFAULT (1), "timeout_ms" integer NOT NULL, "scopes" text NOT NULL, "auth_mode" text NOT NULL, "auth_settings" text NOT NULL, "allow_list" text NOT NULL, "source" text NOT NULL, "created_at" integer NOT NULL, "updated_at" integer NOT NULL)',
    ]) {
      await q.query(sql);
    }
  }

  async down(q: QueryRunner): Promise<void> {
    for (const sql of ['DROP TABLE "upstreams"', 'DROP TABLE "groups"', 'DROP INDEX "IDX_20a555b299f75843aa53ff8b0e"', 'DROP TABLE "group_members"']) {
      await q.query(sql);
    }
  }
}
