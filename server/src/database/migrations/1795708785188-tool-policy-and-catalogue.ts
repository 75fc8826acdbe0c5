import { MigrationInterface, QueryRunner } from 'typeorm';

/** Per-tool policy (rules + pinning mode per upstream) and the tool catalogue (issue 12). */
export class ToolPolicyAndCatalogue1795708785188 implements MigrationInterface {
  name = 'ToolPolicyAndCatalogue1795708785188';

  async up(q: QueryRunner): Promise<void> {
    for (const sql of [
      'CREATE TABLE "tool_policies" ("upstream_slug" text PRIMARY KEY NOT NULL, "rules" text NOT NULL, "pinning" text NOT NULL DEFAULT (\'off\'), "updated_at" integer NOT NULL)',
      'CREATE TABLE "tool_versions" ("id" text PRIMARY KEY NOT NULL, "upstream_slug" text NOT NULL, "tool_name" text NOT NULL, "hash" text NOT NULL, "definition" text NOT NULL, "status" text NOT NULL, "first_seen_at" integer NOT NULL, "last_seen_at" integer NOT NULL, "decided_at" integer, "decided_by" text)',
      'CREATE UNIQUE INDEX "IDX_tool_versions_definition" ON "tool_versions" ("upstream_slug", "tool_name", "hash") ',
    ]) {
      await q.query(sql);
    }
  }

  async down(q: QueryRunner): Promise<void> {
    for (const sql of ['DROP INDEX "IDX_tool_versions_definition"', 'DROP TABLE "tool_versions"', 'DROP TABLE "tool_policies"']) {
      await q.query(sql);
    }
  }
}
