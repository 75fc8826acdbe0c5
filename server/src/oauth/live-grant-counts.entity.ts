import { Column, Entity, PrimaryColumn, PrimaryGeneratedColumn } from 'typeorm';

/**
 * The dashboard's and /metrics' live grants and the users holding one, kept by the database
 * itself: triggers on `grants` (migration LiveGrantCounts, one per engine) add and subtract as
 * grants are inserted, revoked (or un-revoked), moved to another user, or deleted, whatever code
 * path (or hand-written SQL) does it, so reading the figures is constant-time and exact
 * (GrantsService.countActiveGrants) instead of a COUNT(DISTINCT user_id) over every live grant.
 *
 * The figures are the SUM of the rows. On SQLite (one writer at a time) the triggers update the one
 * row with id 1. On PostgreSQL each statement that changes live grants appends a row of its
 * changes instead: replicas' transactions never wait on one shared row (nor deadlock on it between
 * their other locks), and GrantsService.foldLiveGrantTotals folds the appended rows into row 1
 * (on the grants purge's timer, every 10 minutes, and when a read finds many).
 */
@Entity('live_grant_totals')
export class LiveGrantTotals {
  @PrimaryGeneratedColumn()
  id: number;

  /** Grants not revoked. */
  @Column('integer', { default: 0 })
  grants: number;

  /** Users holding at least one of them. */
  @Column('integer', { default: 0 })
  users: number;
}

/**
 * Per user, how many of their grants are live: a row exists only while it is above zero, so the
 * triggers see a user start or stop holding a live grant (and change `users` above) from the row
 * alone. On PostgreSQL the row's lock makes two transactions changing the same user's grants take
 * turns, so neither loses the other's change.
 */
@Entity('live_grants_by_user')
export class LiveGrantsByUser {
  @PrimaryColumn('text', { name: 'user_id' })
  userId: string;

  @Column('integer')
  live: number;
}
