import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Indexes found by EXPLAIN QUERY PLAN on a grown database (bench/data-growth.ts): the expiry purges
 * (tokens, codes, and the login sessions every sign-in deletes) scanned whole tables, deleting a
 * client scanned every consent, and the dashboard's live-grant count read every grant row.
 */
export class DataGrowthIndexes1795711408422 implements MigrationInterface {
  name = 'DataGrowthIndexes1795711408422';

  async up(q: QueryRunner): Promise<void> {
    for (const sql of [
      'CREATE INDEX "IDX_da797d53397a354ab2b95abc2e" ON "login_sessions" ("expires_at") ',
      'CREATE INDEX "IDX_0804d771350762268fc0b40335" ON "access_tokens" ("expires_at") ',
      'CREATE INDEX "IDX_cab4a7a91b37c1bb5f22a20d79" ON "authorization_codes" ("expires_at") ',
      'CREATE INDEX "IDX_618e4fb7c4dc5b95a223cc9866" ON "consents" ("client_id") ',
      'CREATE INDEX "IDX_52cc7248844b10fc209e97c455" ON "grants" ("revoked_at", "user_id") ',
      'CREATE INDEX "IDX_ba3bd69c8ad1e799c0256e9e50" ON "refresh_tokens" ("expires_at") ',
      'CREATE INDEX "IDX_2e2d0af41bc576c34c58b48f80" ON "refresh_tokens" ("rotated_at") WHERE "rotation_nonce" IS NOT NULL',
    ]) {
      await q.query(sql);
    }
  }

  async down(q: QueryRunner): Promise<void> {
    for (const sql of [
      'DROP INDEX "IDX_2e2d0af41bc576c34c58b48f80"',
      'DROP INDEX "IDX_ba3bd69c8ad1e799c0256e9e50"',
      'DROP INDEX "IDX_52cc7248844b10fc209e97c455"',
      'DROP INDEX "IDX_618e4fb7c4dc5b95a223cc9866"',
      'DROP INDEX "IDX_cab4a7a91b37c1bb5f22a20d79"',
      'DROP INDEX "IDX_0804d771350762268fc0b40335"',
      'DROP INDEX "IDX_da797d53397a354ab2b95abc2e"',
    ]) {
      await q.query(sql);
    }
  }
}
