import { Column, Entity, PrimaryColumn } from 'typeorm';
import type { ConnectionTestResult } from './connection-test/connection-test-result';

/**
 * The last "test connection" of each upstream (the console's status column). Kept apart from the
 * registry row: it is run-time state, and config.yaml re-seeds the registry at every start.
 */
@Entity('upstream_checks')
export class UpstreamCheck {
  @PrimaryColumn('text')
  slug: string;

  @Column('integer', { name: 'checked_at' })
  checkedAt: number;

  /** What the test found: the tools, or the stage and message of the failure. Never a secret. */
  @Column('simple-json')
  result: ConnectionTestResult;
}
