import type { Transactions } from '../../database/transactions';

/** PostgreSQL appends a row per statement that changes live grants; a read finding more than this folds them. */
export const FOLD_AT_ROWS = 100;

/**
 * The live grants and the users holding one, as the triggers on grants keep them
 * (live-grant-counts.entity.ts): the sum of live_grant_totals' rows, one on SQLite, on PostgreSQL
 * the first plus those appended since the last fold. Exact: the triggers run in the transaction of
 * every change.
 */
export async function readLiveGrantCounts(transactions: Transactions): Promise<{ grants: number; users: number }> {
  const [row] = await transactions.query<{ grants: number | null; users: number | null; row_count: number }>(
    'SELECT SUM(grants) AS grants, SUM(users) AS users, COUNT(*) AS row_count FROM live_grant_totals',
  );
  if (Number(row.row_count) > FOLD_AT_ROWS) await foldLiveGrantTotals(transactions);
  return { grants: Number(row.grants ?? 0), users: Number(row.users ?? 0) };
}

/**
 * PostgreSQL: folds the rows appended to live_grant_totals into the first, in one statement (the
 * sums a reader sees are the same before and after). Two replicas folding at once are safe: the
 * second's DELETE skips the rows the first deleted (READ COMMITTED re-checks a row whose deleter
 * committed), and its UPDATE of the first row waits for the first's and adds to it. Nothing to do
 * on SQLite, where the triggers update the one row.
 */
export async function foldLiveGrantTotals(transactions: Transactions): Promise<void> {
  if (transactions.engine !== 'postgres') return;
  await transactions.query(
    `WITH base AS (SELECT MIN(id) AS id FROM live_grant_totals),
          folded AS (DELETE FROM live_grant_totals WHERE id > (SELECT id FROM base) RETURNING grants, users)
     UPDATE live_grant_totals SET grants = live_grant_totals.grants + (SELECT COALESCE(SUM(grants), 0) FROM folded),
       users = live_grant_totals.users + (SELECT COALESCE(SUM(users), 0) FROM folded)
     WHERE id = (SELECT id FROM base)`,
  );
}
