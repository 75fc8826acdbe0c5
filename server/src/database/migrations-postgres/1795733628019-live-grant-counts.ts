import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The live grants and the users holding them, kept by triggers on grants (live-grant-counts.entity.ts),
 * so the dashboard and /metrics read a few rows instead of counting every live grant. The triggers
 * cover every way a grant goes live or stops being live: inserted live, revoked or un-revoked,
 * moved to another user, deleted (by hand or by a foreign key's cascade), and TRUNCATE.
 *
 * PostgreSQL runs them once per statement, over its transition tables (PostgreSQL docs, CREATE
 * TRIGGER: REFERENCING ... TABLE), so a revocation of 10,000 grants is one pass:
 * - per user, the change in live grants, applied to live_grants_by_user in user_id order (an
 *   upsert: the row's lock makes two transactions changing one user's grants take turns, and the
 *   fixed order keeps two multi-user statements from deadlocking on those rows);
 * - the statement's total change appended to live_grant_totals as a row of its own: no
 *   transaction waits on a shared totals row (nor deadlocks on it between its other locks);
 *   GrantsService folds the appended rows into the first.
 * Triggers first, then the backfill, in one transaction: creating a trigger locks grants against
 * writes (SHARE ROW EXCLUSIVE) until the migration commits, so no grant is counted twice or missed.
 * The (revoked_at, user_id) index served only the COUNT(DISTINCT user_id) this replaces.
 */
const FUNCTIONS = [
  // Adds `delta` live grants to a user; answers the change in users holding one (1, -1 or 0).
  `CREATE FUNCTION "live_grants_add_to_user"(p_user text, p_delta bigint) RETURNS integer LANGUAGE plpgsql AS $$
  DECLARE
    n bigint;
  BEGIN
    INSERT INTO "live_grants_by_user" AS c ("user_id", "live") VALUES (p_user, p_delta)
      ON CONFLICT ("user_id") DO UPDATE SET "live" = c."live" + excluded."live"
      RETURNING c."live" INTO n;
    IF n <= 0 THEN
      DELETE FROM "live_grants_by_user" WHERE "user_id" = p_user;
    END IF;
    RETURN (n > 0)::integer - (n - p_delta > 0)::integer;
  END $$`,
  // Applies a statement's changes, given as (user_id, delta) rows in user order: the per-user rows, then one appended totals row.
  `CREATE FUNCTION "live_grants_apply"(changes refcursor) RETURNS void LANGUAGE plpgsql AS $$
  DECLARE
    change record;
    grants_delta bigint := 0;
    users_delta bigint := 0;
  BEGIN
    LOOP
      FETCH changes INTO change;
      EXIT WHEN NOT FOUND;
      grants_delta := grants_delta + change.d;
      users_delta := users_delta + "live_grants_add_to_user"(change."user_id", change.d);
    END LOOP;
    CLOSE changes;
    IF grants_delta <> 0 OR users_delta <> 0 THEN
      INSERT INTO "live_grant_totals" ("grants", "users") VALUES (grants_delta, users_delta);
    END IF;
  END $$`,
  // One trigger function per operation: static queries over its transition tables (PL/pgSQL keeps their plans).
  `CREATE FUNCTION "live_grants_after_insert"() RETURNS trigger LANGUAGE plpgsql AS $$
  DECLARE
    changes refcursor;
  BEGIN
    OPEN changes FOR SELECT "user_id", COUNT(*) AS d FROM new_rows WHERE "revoked_at" IS NULL GROUP BY "user_id" ORDER BY "user_id";
    PERFORM "live_grants_apply"(changes);
    RETURN NULL;
  END $$`,
  `CREATE FUNCTION "live_grants_after_delete"() RETURNS trigger LANGUAGE plpgsql AS $$
  DECLARE
    changes refcursor;
  BEGIN
    OPEN changes FOR SELECT "user_id", -COUNT(*) AS d FROM old_rows WHERE "revoked_at" IS NULL GROUP BY "user_id" ORDER BY "user_id";
    PERFORM "live_grants_apply"(changes);
    RETURN NULL;
  END $$`,
  // Revoked, un-revoked or moved: per user, live after minus live before (an UPDATE that changes neither, e.g. last_used_at, nets zero).
  `CREATE FUNCTION "live_grants_after_update"() RETURNS trigger LANGUAGE plpgsql AS $$
  DECLARE
    changes refcursor;
  BEGIN
    OPEN changes FOR SELECT "user_id", SUM(d) AS d FROM (
        SELECT "user_id", 1 AS d FROM new_rows WHERE "revoked_at" IS NULL
        UNION ALL SELECT "user_id", -1 FROM old_rows WHERE "revoked_at" IS NULL
      ) AS x GROUP BY "user_id" HAVING SUM(d) <> 0 ORDER BY "user_id";
    PERFORM "live_grants_apply"(changes);
    RETURN NULL;
  END $$`,
  `CREATE FUNCTION "live_grants_after_truncate"() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    DELETE FROM "live_grants_by_user";
    DELETE FROM "live_grant_totals";
    INSERT INTO "live_grant_totals" ("grants", "users") VALUES (0, 0);
    RETURN NULL;
  END $$`,
];

const TRIGGERS: Record<string, string> = {
  live_grants_after_insert: 'AFTER INSERT ON "grants" REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION "live_grants_after_insert"()',
  // A column list (UPDATE OF) is not allowed with transition tables: every UPDATE of grants runs it; one that changes no liveness adds nothing.
  live_grants_after_update: 'AFTER UPDATE ON "grants" REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION "live_grants_after_update"()',
  live_grants_after_delete: 'AFTER DELETE ON "grants" REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION "live_grants_after_delete"()',
  live_grants_after_truncate: 'AFTER TRUNCATE ON "grants" FOR EACH STATEMENT EXECUTE FUNCTION "live_grants_after_truncate"()',
};

export class LiveGrantCounts1795733628019 implements MigrationInterface {
  name = 'LiveGrantCounts1795733628019';

  async up(q: QueryRunner): Promise<void> {
    for (const sql of [
      'DROP INDEX "public"."IDX_52cc7248844b10fc209e97c455"',
      'CREATE TABLE "live_grant_totals" ("id" BIGSERIAL NOT NULL, "grants" bigint NOT NULL DEFAULT \'0\', "users" bigint NOT NULL DEFAULT \'0\', CONSTRAINT "PK_cf6e54bf05bdc405d971a0e806c" PRIMARY KEY ("id"))',
      'CREATE TABLE "live_grants_by_user" ("user_id" text NOT NULL, "live" bigint NOT NULL, CONSTRAINT "PK_d500b762f1589b815d634674808" PRIMARY KEY ("user_id"))',
      ...FUNCTIONS,
      ...Object.entries(TRIGGERS).map(([name, body]) => `CREATE TRIGGER "${name}" ${body}`),
      // The backfill: the grants already there.
      'INSERT INTO "live_grants_by_user" ("user_id", "live") SELECT "user_id", COUNT(*) FROM "grants" WHERE "revoked_at" IS NULL GROUP BY "user_id"',
      'INSERT INTO "live_grant_totals" ("grants", "users") SELECT COALESCE(SUM("live"), 0), COUNT(*) FROM "live_grants_by_user"',
    ]) {
      await q.query(sql);
    }
  }

  async down(q: QueryRunner): Promise<void> {
    for (const sql of [
      ...Object.keys(TRIGGERS).map((name) => `DROP TRIGGER "${name}" ON "grants"`),
      'DROP FUNCTION "live_grants_after_truncate"()',
      'DROP FUNCTION "live_grants_after_update"()',
      'DROP FUNCTION "live_grants_after_delete"()',
      'DROP FUNCTION "live_grants_after_insert"()',
      'DROP FUNCTION "live_grants_apply"(refcursor)',
      'DROP FUNCTION "live_grants_add_to_user"(text, bigint)',
      'DROP TABLE "live_grants_by_user"',
      'DROP TABLE "live_grant_totals"',
      'CREATE INDEX "IDX_52cc7248844b10fc209e97c455" ON "grants" ("revoked_at", "user_id") ',
    ]) {
      await q.query(sql);
    }
  }
}
