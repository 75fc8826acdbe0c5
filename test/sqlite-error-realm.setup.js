/**
 * Runs before each test file (jest setupFiles). better-sqlite3's native addon is loaded once per
 * process, but Jest evaluates the package's JavaScript once per test file, each file in a realm
 * (vm context) of its own. The addon keeps the SqliteError class it was given first, i.e. the
 * first test file's: in every later file a failed SQLite statement then throws an object that is
 * not `instanceof Error` there, and `expect(…).rejects.toThrow()` reports "did not throw" (CI
 * failed so, depending on which file ran first). In production there is one realm; point the
 * addon at this file's class so tests see what production sees.
 */
const { dirname } = require('node:path');

const root = dirname(require.resolve('better-sqlite3/package.json'));
const { SqliteError } = require('better-sqlite3');
// The same lookup better-sqlite3 itself does (lib/database.js), so this is the one loaded addon.
const addon = require(require.resolve('bindings', { paths: [root] }))({ bindings: 'better_sqlite3.node', module_root: root });
if (typeof addon.setErrorConstructor !== 'function') {
  throw new Error('test/sqlite-error-realm.setup.js: better-sqlite3 no longer has setErrorConstructor; see the comment there');
}
addon.setErrorConstructor(SqliteError);
