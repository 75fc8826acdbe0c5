import { Command, Option } from 'commander';
import { USER_ROLES, UserRole } from '../identity/roles';
import { dataDirOption } from './options';

/** Loaded when a command runs: `--help` needs none of it. */
const run = () => import('./users.actions');

/** `gatehouse user add|list|reset-password|promote|disable|enable` (what they do: users.actions.ts). */
export function userCommands(): Command {
  const user = new Command('user').description('add, list and manage gateway users (works while the gateway runs, except disable and enable)');
  user
    .command('add')
    .description('create a user and print their one-time invite link (they choose a password there)')
    .argument('<email>', 'the email address they sign in with')
    .option('--name <name>', 'display name')
    .addOption(new Option('--role <role>', 'what they may do').choices(USER_ROLES).default('member'))
    .addOption(dataDirOption())
    .action((email: string, opts: { name?: string; role: UserRole; dataDir?: string }) => run().then((m) => m.addUser(email, opts)));
  user
    .command('list')
    .description('list every user with role, status and last sign-in')
    .addOption(new Option('--role <role>', 'only users with this role').choices(USER_ROLES))
    .option('--json', 'one JSON array instead of a table')
    .addOption(dataDirOption())
    .action((opts: { role?: UserRole; json?: boolean; dataDir?: string }) => run().then((m) => m.listUsers(opts)));
  user
    .command('reset-password')
    .description("void the user's password and sign-in sessions and print a one-time link to choose a new one")
    .argument('<user>', 'email or id')
    .addOption(dataDirOption())
    .action((who: string, opts: { dataDir?: string }) => run().then((m) => m.resetPassword(who, opts)));
  user
    .command('promote')
    .description('make the user an admin (e.g. when no admin can sign in any more)')
    .argument('<user>', 'email or id')
    .addOption(dataDirOption())
    .action((who: string, opts: { dataDir?: string }) => run().then((m) => m.promote(who, opts)));
  user
    .command('disable')
    .description('stop the user signing in and revoke all their grants (gateway stopped; while it runs, use the console)')
    .argument('<user>', 'email or id')
    .addOption(dataDirOption())
    .action((who: string, opts: { dataDir?: string }) => run().then((m) => m.setDisabled(who, true, opts)));
  user
    .command('enable')
    .description('let a disabled user sign in again (gateway stopped; while it runs, use the console)')
    .argument('<user>', 'email or id')
    .addOption(dataDirOption())
    .action((who: string, opts: { dataDir?: string }) => run().then((m) => m.setDisabled(who, false, opts)));
  return user;
}
