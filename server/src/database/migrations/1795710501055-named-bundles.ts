import { MigrationInterface, QueryRunner } from 'typeorm';

export class NamedBundles1795710501055 implements MigrationInterface {
  name = 'NamedBundles1795710501055';

  async up(q: QueryRunner): Promise<void> {
    for (const sql of ['CREATE TABLE "bundles" ("name" text PRIMARY KEY NOT NULL, "upstreams" text NOT NULL, "created_at" integer NOT NULL, "updated_at" integer NOT NULL)']) {
      await q.query(sql);
    }
  }

  async down(q: QueryRunner): Promise<void> {
    for (const sql of ['DROP TABLE "bundles"']) {
      await q.query(sql);
    }
  }
}
