import { runCli } from './cli';

/**
 * `node dist/server/main.js` starts the gateway, as `gatehouse start` does; with arguments it is
 * the `gatehouse` command itself (server/src/cli/index.ts), so `--help` or `--version` never
 * start a server. Kept as an entry point for scripts and tests that name this file.
 */
void runCli(process.argv.length > 2 ? process.argv.slice(2) : ['start']);
