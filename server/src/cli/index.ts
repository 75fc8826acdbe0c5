#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { gatewayVersion } from '../common/version';
import { backupCommands } from './backup';
import { configCommands } from './config';
import { doctorCommand } from './doctor';
import { CliError, EXIT } from './exit-codes';
import { userCommands } from './users';
import { vaultCommands } from './vault';

/**
 * The `gatehouse` command (package.json "bin"; in the Docker image, /usr/local/bin/gatehouse).
 * Built with commander: every command has --help, the program has --version, and mistakes in
 * the command line are one `gatehouse: …` line and exit 2. Each command group is one file in
 * this folder; its implementation (*.actions.ts, start.ts) is imported only when it runs, so
 * `--help` and `--version` load commander alone, not NestJS, TypeORM and SQLite.
 */

const HELP_FOOTER = `
Exit codes: 0 done; 1 failed; 2 bad usage, configuration or start-up check; 3 refused because a
gateway is running on the data directory.

Every command reads the gateway's configuration: GATEHOUSE_CONFIG or ./config.yaml, and PORT,
HOST, PUBLIC_URL, DATA_DIR, GATEHOUSE_MASTER_KEY, GATEHOUSE_ADMIN_EMAIL and _PASSWORD (README).`;

export function buildProgram(): { program: Command; isStart: () => boolean } {
  let started = false;
  const program = new Command('gatehouse')
    .description('Gatehouse, a self-hosted OAuth 2.1 gateway for MCP servers')
    .version(gatewayVersion(), '-V, --version', 'print the version')
    .addHelpText('after', HELP_FOOTER);
  program
    .command('start')
    .description('run the gateway until SIGTERM or SIGINT (what `npm start` and the Docker image run)')
    .action(async () => {
      started = true;
      await (await import('./start')).runStart();
    });
  program.addCommand(userCommands());
  program.addCommand(configCommands());
  for (const command of backupCommands()) program.addCommand(command);
  program.addCommand(vaultCommands());
  program.addCommand(doctorCommand());

  // Settings reach only the subcommands created by .command(); these reach every one, added or not.
  program.exitOverride().configureOutput({ outputError: (text, write) => write(`gatehouse: ${text.replace(/^error: /, '')}`) });
  const inherit = (parent: Command) => {
    for (const child of parent.commands) {
      child.copyInheritedSettings(parent);
      inherit(child);
    }
  };
  inherit(program);
  return { program, isStart: () => started };
}

/** Runs one command line (without "node" and the script) and exits with its code; `start` keeps running. */
export async function runCli(args: string[]): Promise<void> {
  const { program, isStart } = buildProgram();
  try {
    await program.parseAsync(args, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) return process.exit(err.exitCode === 0 ? EXIT.ok : EXIT.usage); // commander printed why
    const code = err instanceof CliError ? err.exitCode : EXIT.failed;
    process.stderr.write(`gatehouse: ${err instanceof Error ? err.message : String(err)}\n`);
    return process.exit(code);
  }
  // Writes to a pipe or file are synchronous here (POSIX), so nothing printed is lost by exiting.
  if (!isStart()) process.exit(EXIT.ok);
}

if (require.main === module) void runCli(process.argv.slice(2));
