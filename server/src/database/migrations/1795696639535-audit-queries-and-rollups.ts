import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The audit log's filters and the dashboard's rollups (issue 10): a `tool` column, an index per
 * filter (see audit-event.entity.ts), audit_rollups, audit_tool_rollups and audit_counts.
 * Hand-edited from migration-diff's output: the column is added with ALTER TABLE ADD COLUMN instead
 * of TypeORM's copy of the whole table, which on a large audit log would take minutes. Rollups start
 * empty: the dashboard counts from this version on.
 */
export class AuditQueriesAndRollups1795696639535 implements MigrationInterface {
  name = 'AuditQueriesAndRollups1795696639535';

  async up(q: QueryRunner): Promise<void> {
    for (const sql of [
      'DROP INDEX "IDX_46f9873edb2bcfdb1124f071fb"',
      'CREATE TABLE "audit_rollups" ("bucket_ms" integer NOT NULL, "start_at" integer NOT NULL, "upstream_slug" text NOT NULL, "requests" integer NOT NULL DEFAULT (0), "errors" integer NOT NULL DEFAULT (0), "ms_le_0" integer NOT NULL DEFAULT (0), "ms_le_1" integer NOT NULL DEFAULT (0), "ms_le_2" integer NOT NULL DEFAULT (0), "ms_le_3" integer NOT NULL DEFAULT (0), "ms_le_5" integer NOT NULL DEFAULT (0), "ms_le_7" integer NOT NULL DEFAULT (0), "ms_le_10" integer NOT NULL DEFAULT (0), "ms_le_15" integer NOT NULL DEFAULT (0), "ms_le_20" integer NOT NULL DEFAULT (0), "ms_le_30" integer NOT NULL DEFAULT (0), "ms_le_50" integer NOT NULL DEFAULT (0), "ms_le_70" integer NOT NULL DEFAULT (0), "ms_le_100" integer NOT NULL DEFAULT (0), "ms_le_150" integer NOT NULL DEFAULT (0), "ms_le_200" integer NOT NULL DEFAULT (0), "ms_le_300" integer NOT NULL DEFAULT (0), "ms_le_500" integer NOT NULL DEFAULT (0), "ms_le_700" integer NOT NULL DEFAULT (0), "ms_le_1000" integer NOT NULL DEFAULT (0), "ms_le_1500" integer NOT NULL DEFAULT (0), "ms_le_2000" integer NOT NULL DEFAULT (0), "ms_le_3000" integer NOT NULL DEFAULT (0), "ms_le_5000" integer NOT NULL DEFAULT (0), "ms_le_7000" integer NOT NULL DEFAULT (0), "ms_le_10000" integer NOT NULL DEFAULT (0), "ms_le_15000" integer NOT NULL DEFAULT (0), "ms_le_20000" integer NOT NULL DEFAULT (0), "ms_le_30000" integer NOT NULL DEFAULT (0), "ms_le_50000" integer NOT NULL DEFAULT (0), "ms_le_70000" integer NOT NULL DEFAULT (0), "ms_le_100000" integer NOT NULL DEFAULT (0), "ms_le_150000" integer NOT NULL DEFAULT (0), "ms_le_200000" integer NOT NULL DEFAULT (0), "ms_le_300000" integer NOT NULL DEFAULT (0), "ms_gt_300000" integer NOT NULL DEFAULT (0), PRIMARY KEY ("bucket_ms", "start_at", "upstream_slug")) WITHOUT ROWID',
      'CREATE TABLE "audit_tool_rollups" ("bucket_ms" integer NOT NULL, "start_at" integer NOT NULL, "upstream_slug" text NOT NULL, "tool" text NOT NULL, "calls" integer NOT NULL DEFAULT (0), "errors" integer NOT NULL DEFAULT (0), PRIMARY KEY ("bucket_ms", "start_at", "upstream_slug", "tool")) WITHOUT ROWID',
      'CREATE TABLE "audit_counts" ("type" text NOT NULL, "outcome" text NOT NULL, "start_at" integer NOT NULL, "count" integer NOT NULL DEFAULT (0), PRIMARY KEY ("type", "outcome", "start_at")) WITHOUT ROWID',
      'CREATE INDEX "IDX_e1436c5148d3e808230021665a" ON "audit_counts" ("start_at") ',
      'ALTER TABLE "audit_events" ADD COLUMN "tool" text',
      'CREATE INDEX "IDX_a4d1e18d2c2c4510d6fa54fda5" ON "audit_events" ("tool", "at") WHERE "tool" IS NOT NULL',
      'CREATE INDEX "IDX_4ec7c5547663200c309d5ca75e" ON "audit_events" ("mcp_method", "at") WHERE "mcp_method" IS NOT NULL',
      'CREATE INDEX "IDX_1b9a1df9b0197b9639dae4d9f6" ON "audit_events" ("upstream_slug", "at") WHERE "upstream_slug" IS NOT NULL',
      'CREATE INDEX "IDX_95697f2963a9fc2c483208167b" ON "audit_events" ("client_id", "at") WHERE "client_id" IS NOT NULL',
      'CREATE INDEX "IDX_b146ce049b8664dbbc707b14e7" ON "audit_events" ("user_id", "at") WHERE "user_id" IS NOT NULL',
      'CREATE INDEX "IDX_322e2395de62978d0f6e612869" ON "audit_events" ("at") WHERE "outcome" = \'failure\'',
      'CREATE INDEX "IDX_c8c3ce23c34564965a62ff53ed" ON "audit_events" ("type", "at") WHERE "type" != \'mcp.request\'',
    ]) {
      await q.query(sql);
    }
  }

  async down(q: QueryRunner): Promise<void> {
    for (const sql of [
      'DROP INDEX "IDX_c8c3ce23c34564965a62ff53ed"',
      'DROP INDEX "IDX_322e2395de62978d0f6e612869"',
      'DROP INDEX "IDX_b146ce049b8664dbbc707b14e7"',
      'DROP INDEX "IDX_95697f2963a9fc2c483208167b"',
      'DROP INDEX "IDX_1b9a1df9b0197b9639dae4d9f6"',
      'DROP INDEX "IDX_4ec7c5547663200c309d5ca75e"',
      'DROP INDEX "IDX_a4d1e18d2c2c4510d6fa54fda5"',
      'ALTER TABLE "audit_events" DROP COLUMN "tool"',
      'DROP INDEX "IDX_e1436c5148d3e808230021665a"',
      'DROP TABLE "audit_counts"',
      'DROP TABLE "audit_tool_rollups"',
      'DROP TABLE "audit_rollups"',
      'CREATE INDEX "IDX_46f9873edb2bcfdb1124f071fb" ON "audit_events" ("type") ',
    ]) {
      await q.query(sql);
    }
  }
}
