import { Column, Entity, PrimaryColumn } from 'typeorm';
import type { ToolRule } from './tool-rule';
import type { PinningMode } from './pinning';

/**
 * Per upstream: its ordered tool rules and its catalogue pinning mode. One row holds the whole
 * ordered list, so that a PUT of the list replaces it in one write and the order cannot tear.
 * An upstream without a row has no rules and pinning `off`.
 */
@Entity('tool_policies')
export class ToolPolicyRecord {
  @PrimaryColumn('text', { name: 'upstream_slug' })
  upstreamSlug: string;

  @Column('simple-json')
  rules: ToolRule[];

  @Column('text', { default: 'off' })
  pinning: PinningMode;

  @Column('integer', { name: 'updated_at' })
  updatedAt: number;
}
