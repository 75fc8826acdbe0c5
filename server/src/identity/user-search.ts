/**
 * The console's users search (UsersService.list): a case-insensitive substring of the email or the
 * display name. A substring (LIKE '%q%') is something no b-tree serves, so each engine has a
 * trigram index of its own, kept out of TypeORM's schema diff (declared on User with
 * synchronize: false; see the migrations named users-search):
 * - PostgreSQL: pg_trgm GIN indexes on email and lower(display_name); the planner uses them for the
 *   LIKE conditions themselves (pg_trgm docs, F.35.4 Index Support), so the SQL is the same as without.
 * - SQLite: the FTS5 table users_search (trigram tokenizer, kept in step by triggers on users),
 *   asked first for the ids that contain q; the LIKE conditions are still applied to the users rows,
 *   so the index only narrows the rows read and the result is exactly the LIKE's.
 */

/** The index names, for @Index(…, { synchronize: false }) on User and the migrations. */
export const USERS_EMAIL_TRGM_INDEX = 'IDX_users_email_trgm';
export const USERS_NAME_TRGM_INDEX = 'IDX_users_display_name_trgm';
/** SQLite: the FTS5 table (id UNINDEXED, email, display_name) and its triggers' names. */
export const USERS_SEARCH_TABLE = 'users_search';

/**
 * Trigram indexes answer only substrings of 3 characters or more (FTS5 docs, 4.3.4 The Trigram
 * Tokenizer; pg_trgm docs, F.35.4): shorter ones read the users as before.
 */
export const TRIGRAM_MIN_CHARS = 3;

/**
 * SQLite: up to this many users containing q, the search reads them through users_search (then
 * sorts them by email); with more, it walks users in email order and a page fills after a few rows
 * per match (about 50 × users / matches). Reading an FTS5 hit costs about 4 times a row of the
 * ordered walk (measured at 10,000 users: 0.64 µs against 0.15 µs), so the two cost the same near
 * sqrt(12 × users) matches (350 at 10,000 users); 500 keeps either side within a millisecond at
 * that size, and the walk with more matches than that reads at most what it read before the index.
 */
export const SQLITE_INDEX_DRIVEN_MAX = 500;

/** The LIKE pattern of a substring: q lower-cased, with %, _ and \ matched literally (ESCAPE '\'). */
export function substringPattern(q: string): string {
  return `%${q.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/**
 * Whether q is long enough for a trigram index (in characters, not UTF-16 units). Not with a NUL
 * character: FTS5's query parser ends the string there ("unterminated string").
 */
export function trigramSearchable(q: string): boolean {
  return !q.includes('\u0000') && [...q].length >= TRIGRAM_MIN_CHARS;
}

/** PostgreSQL cannot store the NUL character in text (PostgreSQL docs, 8.3 Character Types): no user contains it, and the server refuses it as a parameter. */
export function matchesNoStoredText(q: string): boolean {
  return q.includes('\u0000');
}

/**
 * An FTS5 query for rows containing q in any column: one phrase (a double-quoted string is taken
 * literally, a double quote inside doubled: FTS5 docs, 3.1 FTS5 Strings). With the trigram
 * tokenizer a phrase matches a substring, case-folded (case_sensitive 0, the default). FTS5 folds
 * Unicode case where SQLite's LIKE and LOWER() fold ASCII only, so it finds the LIKE's rows and
 * perhaps more: the LIKE conditions, still applied, decide.
 */
export function ftsPhrase(q: string): string {
  return `"${q.toLowerCase().replace(/"/g, '""')}"`;
}

/** SQLite: how many users contain q, counted up to SQLITE_INDEX_DRIVEN_MAX + 1 (FTS5 stops there). */
export const SQLITE_COUNT_MATCHES = `SELECT COUNT(*) AS n FROM (SELECT rowid FROM ${USERS_SEARCH_TABLE} WHERE ${USERS_SEARCH_TABLE} MATCH ? LIMIT ${SQLITE_INDEX_DRIVEN_MAX + 1})`;

/** SQLite: the condition on users (alias u) that narrows them to the ids users_search finds for :phrase. */
export const SQLITE_IDS_CONTAINING = `u.id IN (SELECT id FROM ${USERS_SEARCH_TABLE} WHERE ${USERS_SEARCH_TABLE} MATCH :phrase)`;
