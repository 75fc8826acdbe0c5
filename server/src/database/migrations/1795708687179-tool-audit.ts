import { MigrationInterface, QueryRunner } from 'typeorm';
import { LATENCY_COLUMNS } from '../../audit/latency-histogram';

/**
 * Per-tool audit (issue 12): audit_events.tool_arguments (the arguments' digest, or values),
 * a latency histogram per tool in audit_tool_rollups (per-tool p50/p95), and the per-upstream
 * setting upstreams.tool_arguments ('digest' | 'values'). Hand-written with ALTER TABLE ADD COLUMN
 * instead of migration-diff's copy of each table, which on a large audit log would take minutes.
 * The histogram columns are listed from LATENCY_COLUMNS, as the entity declares them.
 */
export class ToolAudit1795708687179 implements MigrationInterface {
  name = 'ToolAudit1795708687179';

  async up(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE "audit_events" ADD COLUMN "tool_arguments" text');
    for (const column of LATENCY_COLUMNS) await q.query(`ALTER TABLE "audit_tool_rollups" ADD COLUMN "${column}" integer NOT NULL DEFAULT (0)`);
    await q.query(`ALTER TABLE "upstreams" ADD COLUMN "tool_arguments" text NOT NULL DEFAULT ('digest')`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE "upstreams" DROP COLUMN "tool_arguments"');
    for (const column of [...LATENCY_COLUMNS].reverse()) await q.query(`ALTER TABLE "audit_tool_rollups" DROP COLUMN "${column}"`);
    await q.query('ALTER TABLE "audit_events" DROP COLUMN "tool_arguments"');
  }
}
