import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The live grants and the users holding them, kept by triggers on grants (live-grant-counts.entity.ts),
 * so the dashboard and /metrics read one row instead of counting every live grant. The triggers
 * cover every way a grant goes live or stops being live: inserted live, revoked or un-revoked,
 * moved to another user, deleted (by hand, or by a foreign key's cascade: SQLite runs triggers for
 * those). SQLite runs them per row; one writer at a time, so they update the one totals row (id 1).
 * Created before the backfill, in the migration's transaction, so no grant is counted twice or missed.
 * The (revoked_at, user_id) index served only the COUNT(DISTINCT user_id) this replaces.
 */

/** A grant of `row` (NEW or OLD) becomes live: one more for its user; one more user when it is their first. */
const enter = (row: string) => `
    INSERT INTO "live_grants_by_user" ("user_id", "live") VALUES (${row}."user_id", 1) ON CONFLICT ("user_id") DO UPDATE SET "live" = "live" + 1;
    UPDATE "live_grant_totals" SET "grants" = "grants" + 1,
      "users" = "users" + (SELECT COUNT(*) FROM "live_grants_by_user" WHERE "user_id" = ${row}."user_id" AND "live" = 1) WHERE "id" = 1;`;

/** A grant of `row` stops being live: one fewer for its user; one user fewer when it was their last (their row goes). */
const leave = (row: string) => `
    UPDATE "live_grants_by_user" SET "live" = "live" - 1 WHERE "user_id" = ${row}."user_id";
    UPDATE "live_grant_totals" SET "grants" = "grants" - 1,
      "users" = "users" - (SELECT COUNT(*) FROM "live_grants_by_user" WHERE "user_id" = ${row}."user_id" AND "live" <= 0) WHERE "id" = 1;
    DELETE FROM "live_grants_by_user" WHERE "user_id" = ${row}."user_id" AND "live" <= 0;`;

const moved = 'NEW."user_id" IS NOT OLD."user_id"';

export const LIVE_GRANT_TRIGGERS: Record<string, string> = {
  live_grants_after_insert: `AFTER INSERT ON "grants" FOR EACH ROW WHEN NEW."revoked_at" IS NULL BEGIN ${enter('NEW')} END`,
  live_grants_after_delete: `AFTER DELETE ON "grants" FOR EACH ROW WHEN OLD."revoked_at" IS NULL BEGIN ${leave('OLD')} END`,
  // SQLite runs UPDATE OF triggers only for statements that set one of these columns.
  live_grants_after_update_leave: `AFTER UPDATE OF "revoked_at", "user_id" ON "grants" FOR EACH ROW
    WHEN OLD."revoked_at" IS NULL AND (NEW."revoked_at" IS NOT NULL OR ${moved}) BEGIN ${leave('OLD')} END`,
  live_grants_after_update_enter: `AFTER UPDATE OF "revoked_at", "user_id" ON "grants" FOR EACH ROW
    WHEN NEW."revoked_at" IS NULL AND (OLD."revoked_at" IS NOT NULL OR ${moved}) BEGIN ${enter('NEW')} END`,
};

export class LiveGrantCounts1795733628019 implements MigrationInterface {
  name = 'LiveGrantCounts1795733628019';

  async up(q: QueryRunner): Promise<void> {
    for (const sql of [
      'DROP INDEX "IDX_52cc7248844b10fc209e97c455"',
      'CREATE TABLE "live_grant_totals" ("id" integer PRIMARY KEY AUTOINCREMENT NOT NULL, "grants" integer NOT NULL DEFAULT (0), "users" integer NOT NULL DEFAULT (0))',
      'CREATE TABLE "live_grants_by_user" ("user_id" text PRIMARY KEY NOT NULL, "live" integer NOT NULL)',
      ...Object.entries(LIVE_GRANT_TRIGGERS).map(([name, body]) => `CREATE TRIGGER "${name}" ${body}`),
      // The backfill: the grants already there.
      'INSERT INTO "live_grants_by_user" ("user_id", "live") SELECT "user_id", COUNT(*) FROM "grants" WHERE "revoked_at" IS NULL GROUP BY "user_id"',
      'INSERT INTO "live_grant_totals" ("id", "grants", "users") SELECT 1, COALESCE(SUM("live"), 0), COUNT(*) FROM "live_grants_by_user"',
    ]) {
      await q.query(sql);
    }
  }

  async down(q: QueryRunner): Promise<void> {
    for (const sql of [
      ...Object.keys(LIVE_GRANT_TRIGGERS).map((name) => `DROP TRIGGER "${name}"`),
      'DROP TABLE "live_grants_by_user"',
      'DROP TABLE "live_grant_totals"',
      'CREATE INDEX "IDX_52cc7248844b10fc209e97c455" ON "grants" ("revoked_at", "user_id") ',
    ]) {
      await q.query(sql);
    }
  }
}
