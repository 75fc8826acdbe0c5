import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

/**
 * Requests admitted per rate-limit key and minute, summed over every replica on PostgreSQL
 * (SharedCounters adds each replica's deltas about once a second). Nothing is written on SQLite.
 */
@Entity('rate_limit_counters')
@Index('idx_rate_limit_counters_window', ['windowStart'])
export class RateLimitCounter {
  /** `<limiter>:<user id>:<upstream slug>`. */
  @PrimaryColumn('text')
  key: string;

  /** Start of the minute (epoch ms) the counts were added in; old minutes are purged. */
  @PrimaryColumn('integer', { name: 'window_start' })
  windowStart: number;

  @Column('integer')
  count: number;
}
