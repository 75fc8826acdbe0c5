import { MigrationInterface, QueryRunner } from 'typeorm';

export class PendingSignIns1795719550610 implements MigrationInterface {
  name = 'PendingSignIns1795719550610';

  async up(q: QueryRunner): Promise<void> {
    for (const sql of [
      'CREATE TABLE "pending_sign_ins" ("id" text NOT NULL, "kind" text NOT NULL, "requester" text NOT NULL, "sealed" text NOT NULL, "created_at" bigint NOT NULL, "expires_at" bigint NOT NULL, CONSTRAINT "PK_ac326856f2f65059c747395e5a3" PRIMARY KEY ("id"))',
      'CREATE INDEX "IDX_pending_sign_ins_requester" ON "pending_sign_ins" ("requester", "created_at") ',
      'CREATE INDEX "IDX_pending_sign_ins_expires_at" ON "pending_sign_ins" ("expires_at") ',
    ]) {
      await q.query(sql);
    }
  }

  async down(q: QueryRunner): Promise<void> {
    for (const sql of ['DROP INDEX "public"."IDX_pending_sign_ins_expires_at"', 'DROP INDEX "public"."IDX_pending_sign_ins_requester"', 'DROP TABLE "pending_sign_ins"']) {
      await q.query(sql);
    }
  }
}
