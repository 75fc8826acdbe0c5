import { runStart } from './cli/start';

/**
 * Starts the gateway: the same as `gatehouse start` (server/src/cli/index.ts), kept as an entry
 * point of its own for `node dist/server/main.js` and the tests that spawn it.
 */
runStart().catch((err) => {
  process.stderr.write(`gatehouse: failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
