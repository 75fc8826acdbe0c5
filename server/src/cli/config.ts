import { Command } from 'commander';

/** Loaded when a command runs: `--help` needs none of it. */
const run = () => import('./config.actions');

/** `gatehouse config check [file]` (what it does: config.actions.ts). */
export function configCommands(): Command {
  const config = new Command('config').description('check the configuration');
  config
    .command('check')
    .description('validate the configuration and print the effective settings, secrets masked (exit 2 naming every bad key at once)')
    .argument('[file]', 'the config file (default: GATEHOUSE_CONFIG, else ./config.yaml, else the embedded default)')
    .action((file: string | undefined) => run().then((m) => m.checkConfig(file)));
  return config;
}
