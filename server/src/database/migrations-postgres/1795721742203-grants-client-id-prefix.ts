import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The client list's metadata-document clients are found by a prefix of client_id (LIKE
 * 'https://%'); a default b-tree answers LIKE only under the C collation, so without this index
 * PostgreSQL read the whole grants table on every page of the client list (see GRANTS_CLIENT_ID_PREFIX_INDEX
 * in grant.entity.ts). Hand-written: TypeORM's diff cannot express an operator class.
 */
export class GrantsClientIdPrefix1795721742203 implements MigrationInterface {
  name = 'GrantsClientIdPrefix1795721742203';

  async up(q: QueryRunner): Promise<void> {
    await q.query('CREATE INDEX "IDX_grants_client_id_prefix" ON "grants" ("client_id" text_pattern_ops)');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP INDEX "public"."IDX_grants_client_id_prefix"');
  }
}
