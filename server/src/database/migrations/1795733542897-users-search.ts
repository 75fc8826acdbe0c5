import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The users search's trigram index on SQLite (identity/user-search.ts): an FTS5 table with the
 * trigram tokenizer (SQLite >= 3.34), holding each user's id, email and display name, kept in step
 * with users by triggers. Hand-written: TypeORM knows neither virtual tables nor triggers (its diff
 * reads only the entities' tables, so it leaves these alone). Its rows are found by the user's id
 * (UNINDEXED: a delete or rename reads the table's rows, about 1 ms per 10,000 users) rather than
 * by users' rowid, which a VACUUM or a migration that rebuilds users may renumber.
 * A later migration that rebuilds users (TypeORM copies it to temporary_users and renames) drops
 * these triggers with the old table: it must create them again (test/medium/usersearch checks they exist).
 */
export class UsersSearch1795733542897 implements MigrationInterface {
  name = 'UsersSearch1795733542897';

  async up(q: QueryRunner): Promise<void> {
    for (const sql of [
      `CREATE VIRTUAL TABLE "users_search" USING fts5(id UNINDEXED, email, display_name, tokenize = 'trigram')`,
      'INSERT INTO "users_search" (id, email, display_name) SELECT id, email, display_name FROM "users"',
      'CREATE TRIGGER "users_search_insert" AFTER INSERT ON "users" BEGIN INSERT INTO "users_search" (id, email, display_name) VALUES (new.id, new.email, new.display_name); END',
      'CREATE TRIGGER "users_search_delete" AFTER DELETE ON "users" BEGIN DELETE FROM "users_search" WHERE id = old.id; END',
      // Sign-in updates last_login_at: only a change of what is searched touches the index.
      'CREATE TRIGGER "users_search_update" AFTER UPDATE OF id, email, display_name ON "users" BEGIN DELETE FROM "users_search" WHERE id = old.id; INSERT INTO "users_search" (id, email, display_name) VALUES (new.id, new.email, new.display_name); END',
    ]) {
      await q.query(sql);
    }
  }

  async down(q: QueryRunner): Promise<void> {
    for (const sql of ['DROP TRIGGER "users_search_update"', 'DROP TRIGGER "users_search_delete"', 'DROP TRIGGER "users_search_insert"', 'DROP TABLE "users_search"']) {
      await q.query(sql);
    }
  }
}
