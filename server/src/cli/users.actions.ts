import { isEmail } from 'class-validator';
import type { INestApplicationContext } from '@nestjs/common';
import type { AuditVerb } from '../audit/audit-event-type';
import { AuditService } from '../audit/audit.service';
import { IssuedLink } from '../identity/invites.service';
import { LoginSessionService } from '../identity/login-session.service';
import { UserRole } from '../identity/roles';
import { User } from '../identity/user.entity';
import { UsersService } from '../identity/users.service';
import { OAuthModule } from '../oauth/oauth.module';
import { GrantsService } from '../oauth/grants/grants.service';
import { CliError, commandConfig, dataDirOf, EXIT, refuseWhileRunning, say, when } from './common';
import { withServices } from './context';

/**
 * What `gatehouse user …` does (users.ts defines the commands): the admin console's user actions,
 * from a shell on the gateway's host, without signing in: for the first users, and to recover a
 * locked-out admin (reset-password, promote).
 * Each action writes the same audit row as in the console (`admin.user.<verb>`), with no user
 * (the actor is whoever has this shell) and `via: "cli"`.
 *
 * disable and enable refuse while a gateway runs on the data directory: the running gateway keeps
 * verified tokens and each user's status in memory, which a change from another process does not
 * reach, so a user disabled here would keep working there until its restart. The console does it
 * at once.
 */
export async function addUser(email: string, opts: { name?: string; role: UserRole; dataDir?: string }): Promise<void> {
  const address = email.trim();
  if (!isEmail(address)) throw new CliError(`${JSON.stringify(email)} is not an email address`, EXIT.usage);
  const config = commandConfig(opts);
  await withServices(config, [], async (app) => {
    const users = app.get(UsersService);
    if (await users.findByEmail(address))
      throw new CliError(`a user with the email ${address.toLowerCase()} already exists; for a new link: gatehouse user reset-password ${address.toLowerCase()}`);
    const { user, link } = await users.invite({ email: address, name: opts.name ?? null, role: opts.role });
    await record(app, 'create', user, { role: user.role });
    say(`Created ${user.role} ${user.email}.`);
    printLink(user, link);
  });
}

export async function listUsers(opts: { role?: UserRole; json?: boolean; dataDir?: string }): Promise<void> {
  const config = commandConfig(opts);
  await withServices(config, [], async (app) => {
    const users = app.get(UsersService);
    const all: User[] = [];
    for (let afterEmail: string | null = null; ;) {
      const page = await users.list({ role: opts.role }, { afterEmail, limit: 200 });
      all.push(...page);
      if (page.length < 200) break;
      afterEmail = page[page.length - 1].email;
    }
    const rows = all.map((u) => ({
      id: u.id,
      email: u.email,
      name: u.displayName,
      role: u.role,
      status: u.disabled ? 'disabled' : u.passwordHash ? 'active' : 'invited',
      lastLoginAt: u.lastLoginAt === null ? null : new Date(u.lastLoginAt).toISOString(),
    }));
    if (opts.json) return say(JSON.stringify(rows, null, 2));
    if (!rows.length) return say('No users.');
    say(
      table(
        ['EMAIL', 'ROLE', 'STATUS', 'LAST SIGN-IN', 'NAME', 'ID'],
        rows.map((r) => [r.email, r.role, r.status, r.lastLoginAt ? when(Date.parse(r.lastLoginAt)) : 'never', r.name ?? '', r.id]),
      ),
    );
  });
}

export async function resetPassword(who: string, opts: { dataDir?: string }): Promise<void> {
  const config = commandConfig(opts);
  await withServices(config, [], async (app) => {
    const user = await findUser(app, who);
    const link = await app.get(UsersService).issuePasswordLink(user.id);
    await app.get(LoginSessionService).endAllFor(user.id);
    await record(app, 'reset_password', user, { link: link.purpose });
    if (link.purpose === 'reset') say(`The password of ${user.email} is void and every sign-in session of theirs has ended.`);
    else say(`${user.email} has not set a password yet: here is a new invite link (older links no longer work).`);
    if (user.disabled) say(`Note: ${user.email} is disabled; the link works once they are enabled again.`);
    printLink(user, link);
  });
}

export async function promote(who: string, opts: { dataDir?: string }): Promise<void> {
  const config = commandConfig(opts);
  await withServices(config, [], async (app) => {
    const user = await findUser(app, who);
    if (user.role === 'admin') return say(`${user.email} is already an admin.`);
    await app.get(UsersService).setRole(user.id, 'admin');
    await record(app, 'role', user, { from: user.role, to: 'admin' });
    say(`${user.email} is now an admin (was ${user.role}).`);
    if (user.disabled) say(`Note: ${user.email} is disabled; enable them with \`gatehouse user enable ${user.email}\` (gateway stopped) or in the console.`);
    else if (!user.passwordHash) say(`Note: ${user.email} has no password; \`gatehouse user reset-password ${user.email}\` prints a link to set one.`);
  });
}

export async function setDisabled(who: string, disabled: boolean, opts: { dataDir?: string }): Promise<void> {
  const config = commandConfig(opts);
  const verb = disabled ? 'disable' : 'enable';
  refuseWhileRunning(
    dataDirOf(config),
    `${verb} a user`,
    `${verb} them in the admin console (Users), which takes effect at once, or stop the gateway first (its token cache would not see a change made here)`,
  );
  // Revoking grants needs the OAuth side (and through it the upstreams and the vault's master key).
  await withServices(config, disabled ? [OAuthModule] : [], async (app) => {
    const user = await findUser(app, who);
    const users = app.get(UsersService);
    if (!disabled) {
      if (!user.disabled) return say(`${user.email} is not disabled.`);
      await users.setDisabled(user.id, false);
      await record(app, 'enable', user, {});
      return say(`${user.email} can sign in again; their old grants stay revoked (clients authorize anew).`);
    }
    if (user.disabled) return say(`${user.email} is already disabled.`);
    await users.disable(user.id);
    const grantsRevoked = await app.get(GrantsService).revokeAllFor({ userId: user.id }, { reason: 'user disabled from the command line' });
    await app.get(LoginSessionService).endAllFor(user.id);
    await record(app, 'disable', user, { grants_revoked: grantsRevoked });
    say(`${user.email} is disabled: ${grantsRevoked} grant(s) revoked, every sign-in session ended.`);
  });
}

async function findUser(app: INestApplicationContext, who: string): Promise<User> {
  const users = app.get(UsersService);
  const user = (who.includes('@') ? await users.findByEmail(who) : null) ?? (await users.findById(who.trim()));
  if (!user) throw new CliError(`no user ${JSON.stringify(who)}; \`gatehouse user list\` shows them all`);
  return user;
}

function printLink(user: User, link: IssuedLink): void {
  const kind = link.purpose === 'invite' ? 'Invite link' : 'Password reset link';
  say(`${kind} for ${user.email}, valid until ${when(link.expiresAt)}, usable once (it is shown only now; pass it on privately):`);
  say(`  ${link.url}`);
}

/** The console's audit row for the same action; awaited, so it is stored before the command exits. */
function record(app: INestApplicationContext, verb: AuditVerb<'admin.user'>, target: User, detail: Record<string, unknown>): Promise<void> {
  return app
    .get(AuditService)
    .recordNow({ type: `admin.user.${verb}`, outcome: 'success', userId: null, detail: { target_user: target.id, email: target.email, via: 'cli', ...detail } });
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  return [header, ...rows].map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]))).join('  ')).join('\n');
}
