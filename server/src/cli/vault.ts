import { Command } from 'commander';
import { dataDirOption, lazy } from './lazy';

const run = lazy(() => require('./vault.actions') as typeof import('./vault.actions'));

/** `gatehouse vault rotate` (what it does: vault.actions.ts). */
export function vaultCommands(): Command {
  const vault = new Command('vault').description('manage the vault that encrypts upstream secrets');
  vault
    .command('rotate')
    .description('re-encrypt every secret under a new master key (gateway stopped)')
    .option('--new-key <key>', 'the new 32-byte master key, base64 or hex (default: a new random key)')
    .addOption(dataDirOption())
    .action((opts: { newKey?: string; dataDir?: string }) => run().rotate(opts));
  return vault;
}
