import { MigrationInterface, QueryRunner } from 'typeorm';

/** The last test connection of each upstream (the admin console's status column). */
export class UpstreamChecks1795693458320 implements MigrationInterface {
  name = 'UpstreamChecks1795693458320';

  async up(q: QueryRunner): Promise<void> {
    for (const sql of ['CREATE TABLE "upstream_checks" ("slug" text PRIMARY KEY NOT NULL, "checked_at" integer NOT NULL, "result" text NOT NULL)']) {
      await q.query(sql);
    }
  }

  async down(q: QueryRunner): Promise<void> {
    for (const sql of ['DROP TABLE "upstream_checks"']) {
      await q.query(sql);
    }
  }
}
