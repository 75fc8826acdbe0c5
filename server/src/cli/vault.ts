import { Command } from 'commander';
import { dataDirOption } from './options';

/** Loaded when a command runs: `--help` needs none of it. */
const run = () => import('./vault.actions');

/** `gatehouse vault rotate` (what it does: vault.actions.ts). */
export function vaultCommands(): Command {
  const vault = new Command('vault').description('manage the vault that encrypts upstream secrets');
  vault
    .command('rotate')
    .description('re-encrypt every secret under a new master key (gateway stopped)')
    .option('--new-key <key>', 'the new 32-byte master key, base64 or hex (default: a new random key)')
    .addOption(dataDirOption())
    .action((opts: { newKey?: string; dataDir?: string }) => run().then((m) => m.rotate(opts)));
  return vault;
}
