import { MigrationInterface, QueryRunner } from 'typeorm';

export class PendingSignIns1795719550610 implements MigrationInterface {
  name = 'PendingSignIns1795719550610';

  async up(q: QueryRunner): Promise<void> {
    for (const sql of [
      'CREATE TABLE "pending_sign_ins" ("id" text PRIMARY KEY NOT NULL, "kind" text NOT NULL, "requester" text NOT NULL, "sealed" text NOT NULL, "created_at" integer NOT NULL, "expires_at" integer NOT NULL)',
      'CREATE INDEX "IDX_pending_sign_ins_requester" ON "pending_sign_ins" ("requester", "created_at") ',
      'CREATE INDEX "IDX_pending_sign_ins_expires_at" ON "pending_sign_ins" ("expires_at") ',
    ]) {
      await q.query(sql);
    }
  }

  async down(q: QueryRunner): Promise<void> {
    for (const sql of ['DROP INDEX "IDX_pending_sign_ins_expires_at"', 'DROP INDEX "IDX_pending_sign_ins_requester"', 'DROP TABLE "pending_sign_ins"']) {
      await q.query(sql);
    }
  }
}
