import { runCli } from '../cli';

/**
 * `npm run vault:rotate -- [--new-key <base64|hex>] [--data-dir <dir>]`: the same as
 * `gatehouse vault rotate` (server/src/cli/vault.ts), kept for the npm scripts that name this file.
 */
if (require.main === module) void runCli(['vault', 'rotate', ...process.argv.slice(2)]);
