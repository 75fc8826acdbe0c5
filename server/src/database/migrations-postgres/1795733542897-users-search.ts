import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The users search's trigram indexes on PostgreSQL (identity/user-search.ts): GIN indexes with
 * pg_trgm's operator class on email (stored lower-cased) and lower(display_name), the expressions
 * the search's LIKE conditions test. Hand-written: TypeORM's diff cannot express an operator class.
 * fastupdate = off: users are written rarely (an admin's action), and rows waiting in a GIN pending
 * list (PostgreSQL docs, 70.4.1 GIN Fast Update Technique) are read one by one on every search until
 * a vacuum merges them; measured after 10,000 inserts, the planner then preferred reading every user.
 *
 * pg_trgm is a trusted extension since PostgreSQL 13 (the database owner may create it) and ships
 * with the official image and Debian's package; where it cannot be created (an older server, a role
 * without CREATE on the database, a build without contrib), the indexes are skipped rather than the
 * gateway left unable to start: the search still answers, reading every user, and UsersService logs
 * a warning at each start (README "As the data grows" says how to add them later). A savepoint keeps
 * the failure from aborting the migration's transaction.
 */
export class UsersSearch1795733542897 implements MigrationInterface {
  name = 'UsersSearch1795733542897';

  async up(q: QueryRunner): Promise<void> {
    await q.query('SAVEPOINT users_search_trgm');
    try {
      await q.query('CREATE EXTENSION IF NOT EXISTS pg_trgm');
      await q.query('CREATE INDEX "IDX_users_email_trgm" ON "users" USING gin ("email" gin_trgm_ops) WITH (fastupdate = off)');
      await q.query('CREATE INDEX "IDX_users_display_name_trgm" ON "users" USING gin (lower("display_name") gin_trgm_ops) WITH (fastupdate = off)');
      await q.query('RELEASE SAVEPOINT users_search_trgm');
    } catch {
      await q.query('ROLLBACK TO SAVEPOINT users_search_trgm');
    }
  }

  async down(q: QueryRunner): Promise<void> {
    // The extension stays: other schemas of the database may use it.
    await q.query('DROP INDEX IF EXISTS "public"."IDX_users_display_name_trgm"');
    await q.query('DROP INDEX IF EXISTS "public"."IDX_users_email_trgm"');
  }
}
