import { Command } from 'commander';
import { dataDirOption } from './options';

/** Loaded when the command runs: `--help` needs none of it. */
const run = () => import('./doctor.actions');

/** `gatehouse doctor <client-id|email>` (what it does: doctor.actions.ts). */
export function doctorCommand(): Command {
  return new Command('doctor')
    .description("a client's or user's OAuth steps as the gateway saw them, and what went wrong in plain words (works whether or not the gateway runs)")
    .argument('<client-id|email>', 'a client id (or metadata document URL), a user email, or a user id')
    .option('--json', 'the report as JSON (the admin API shape) instead of text')
    .addOption(dataDirOption())
    .action((subject: string, opts: { json?: boolean; dataDir?: string }) => run().then((m) => m.runDoctor(subject, opts)));
}
