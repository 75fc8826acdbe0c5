import { Command } from 'commander';
import { dataDirOption } from './options';

/** Loaded when a command runs: `--help` needs none of it. */
const run = () => import('./backup.actions');

/** `gatehouse backup <file>` and `gatehouse restore <file>` (what they do: backup.actions.ts). */
export function backupCommands(): Command[] {
  const backup = new Command('backup')
    .description('write a consistent copy of the database to <file>, also while the gateway runs (the master key is not in it)')
    .argument('<file>', 'where to write the backup (one SQLite file, mode 0600)')
    .option('--force', 'overwrite <file> if it exists')
    .addOption(dataDirOption())
    .action((file: string, opts: { force?: boolean; dataDir?: string }) => run().then((m) => m.runBackup(file, opts)));
  const restore = new Command('restore')
    .description('replace the database with a backup (gateway stopped); the previous database is kept beside it')
    .argument('<file>', 'a file written by `gatehouse backup`')
    .addOption(dataDirOption())
    .action((file: string, opts: { dataDir?: string }) => run().then((m) => m.runRestore(file, opts)));
  return [backup, restore];
}
