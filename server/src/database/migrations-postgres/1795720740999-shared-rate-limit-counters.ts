import { MigrationInterface, QueryRunner } from 'typeorm';

export class SharedRateLimitCounters1795720740999 implements MigrationInterface {
  name = 'SharedRateLimitCounters1795720740999';

  async up(q: QueryRunner): Promise<void> {
    for (const sql of [
      'CREATE TABLE "rate_limit_counters" ("key" text NOT NULL, "window_start" bigint NOT NULL, "count" bigint NOT NULL, CONSTRAINT "PK_fff95af8f500fb050737753e12e" PRIMARY KEY ("key", "window_start"))',
      'CREATE INDEX "idx_rate_limit_counters_window" ON "rate_limit_counters" ("window_start") ',
    ]) {
      await q.query(sql);
    }
  }

  async down(q: QueryRunner): Promise<void> {
    for (const sql of ['DROP INDEX "public"."idx_rate_limit_counters_window"', 'DROP TABLE "rate_limit_counters"']) {
      await q.query(sql);
    }
  }
}
