import { randomUUID } from 'node:crypto';
import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Brackets, In, Repository, SelectQueryBuilder } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { conflict, invalidFields, notFound } from '../common/api-errors';
import { randomToken } from '../common/crypto';
import { ChangeFeed } from '../database/change-feed';
import { Transactions } from '../database/transactions';
import { InvitesService, IssuedLink } from './invites.service';
import { hashPassword, passwordProblem, verifyPassword } from './password';
import { UserRole } from './roles';
import {
  ftsPhrase,
  matchesNoStoredText,
  USERS_EMAIL_TRGM_INDEX,
  USERS_NAME_TRGM_INDEX,
  SQLITE_COUNT_MATCHES,
  SQLITE_IDS_CONTAINING,
  SQLITE_INDEX_DRIVEN_MAX,
  substringPattern,
  trigramSearchable,
} from './user-search';
import { User } from './user.entity';

export const DEFAULT_ADMIN_EMAIL = 'admin@gatehouse.local';

/** The first admin account a start created; generatedPassword only when none came from the environment. */
export interface BootstrapNotice {
  email: string;
  generatedPassword: string | null;
}

export interface UserFilter {
  /** Part of the email or name (case-insensitive). */
  q?: string;
  role?: UserRole;
  disabled?: boolean;
}

/** Keyset pagination: the rows after `afterEmail` (emails are unique), in email order. */
export interface UserPageRequest {
  afterEmail: string | null;
  limit: number;
}

/** An enabled admin who can sign in: what must remain after any demotion, disabling or deletion. (TRUE/FALSE: both engines' boolean literals.) */
const OTHER_ACTIVE_ADMIN = `(SELECT COUNT(*) FROM users other WHERE other.role = 'admin' AND other.disabled = FALSE AND other.password_hash IS NOT NULL AND other.id <> ?) > 0`;
/**
 * Held (Tx.lock) by every change that may take away an enabled admin. Under READ COMMITTED the
 * count above is read from the snapshot of its statement's start: two replicas demoting the last
 * two admins at the same moment would each still count the other and both win. Taking turns on
 * one lock, the second statement starts after the first committed and counts what is left.
 */
const LAST_ADMIN_LOCK = 'users:last-enabled-admin';

@Injectable()
export class UsersService implements OnModuleInit {
  /** Verified against when the email is unknown, so both cases take the same time. */
  private dummyHash: Promise<string> | null = null;
  private readonly profiles = new Map<string, { email: string; disabled: boolean; staleAt: number }>();
  private bootstrapNotice: BootstrapNotice | null = null;

  constructor(
    @InjectRepository(User) private readonly users: Repository<User>,
    private readonly transactions: Transactions,
    private readonly audit: AuditService,
    private readonly invites: InvitesService,
    private readonly feed: ChangeFeed,
  ) {
    // A user disabled, enabled or deleted on another replica: its next request here reads the row again.
    feed.on('user.changed', (id) => this.profiles.delete(id));
    feed.onResync(() => this.profiles.clear());
  }

  async onModuleInit(): Promise<void> {
    await this.bootstrapAdmin(process.env.GATEHOUSE_ADMIN_EMAIL, process.env.GATEHOUSE_ADMIN_PASSWORD);
    await this.warnWithoutTrigramIndexes();
  }

  /** PostgreSQL: the users-search migration skips its indexes where pg_trgm cannot be created; said at every start until they exist. */
  private async warnWithoutTrigramIndexes(): Promise<void> {
    if (this.transactions.engine !== 'postgres') return;
    const names = [USERS_EMAIL_TRGM_INDEX, USERS_NAME_TRGM_INDEX];
    const found = await this.transactions.query<{ indexname: string }>('SELECT indexname FROM pg_indexes WHERE tablename = ? AND indexname IN (?, ?)', ['users', ...names]);
    if (found.length === names.length) return;
    new Logger('Users').warn(
      "the users search has no trigram index (the pg_trgm extension could not be created): it reads every user. See README, 'As the data grows', to add the indexes.",
    );
  }

  /**
   * On first start, creates the admin account from the environment (checked by the config loader:
   * an email, a password of at least 12 characters) or with a generated password. What was created
   * is kept for the start summary to print once (takeBootstrapNotice), never logged here.
   */
  async bootstrapAdmin(email: string | undefined, password: string | undefined): Promise<void> {
    if ((await this.users.count()) > 0) return;
    const generated = !password;
    const adminEmail = email?.trim() || DEFAULT_ADMIN_EMAIL;
    const adminPassword = password || randomToken(18);
    const user = await this.create({ email: adminEmail, password: adminPassword, role: 'admin' });
    this.bootstrapNotice = { email: user.email, generatedPassword: generated ? adminPassword : null };
  }

  /** The first admin created by this start, once: the caller prints it (the generated password exists nowhere else). */
  takeBootstrapNotice(): BootstrapNotice | null {
    const notice = this.bootstrapNotice;
    this.bootstrapNotice = null;
    return notice;
  }

  /** A new account; without a password nobody can sign in to it until a link sets one (see invite()). */
  async create(input: { email: string; password?: string | null; role?: UserRole; displayName?: string | null }): Promise<User> {
    const email = input.email.trim().toLowerCase();
    if (await this.findByEmail(email)) throw conflict(`a user with the email ${email} already exists`);
    const user = this.users.create({
      id: randomUUID(),
      email,
      passwordHash: input.password ? await hashPassword(input.password) : null,
      displayName: input.displayName ?? null,
      role: input.role ?? 'member',
      disabled: false,
      createdAt: Date.now(),
      lastLoginAt: null,
    });
    try {
      await this.transactions.run(async (tx) => {
        await tx.insert(this.users, user);
        await this.audit.recordIn(tx, { type: 'user.create', outcome: 'success', userId: user.id, detail: { email: user.email, role: user.role } });
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw conflict(`a user with the email ${email} already exists`);
      throw err;
    }
    return user;
  }

  /** Creates the account without a password and the one-time link where its owner chooses one. */
  async invite(input: { email: string; name?: string | null; role?: UserRole }): Promise<{ user: User; link: IssuedLink }> {
    const user = await this.create({ email: input.email, role: input.role, displayName: input.name ?? null });
    return { user, link: await this.invites.issue(user.id, 'invite') };
  }

  /**
   * A new link for an existing user: an invite again while they never had a password, else a reset.
   * A reset clears the password at once (a forgotten one may also be a leaked one) and voids older
   * links; the caller ends the user's sign-in sessions.
   */
  async issuePasswordLink(id: string): Promise<IssuedLink> {
    const user = await this.require(id);
    // A reset clears the password, so a user who signed in before is one who had one.
    const purpose = user.passwordHash || user.lastLoginAt !== null ? 'reset' : 'invite';
    if (user.passwordHash) await this.users.update({ id }, { passwordHash: null });
    return this.invites.issue(id, purpose);
  }

  findById(id: string): Promise<User | null> {
    return this.users.findOneBy({ id });
  }

  /** id → email of the users that exist among `ids` (one query; for lists that name many users). */
  async emailsOf(ids: string[]): Promise<Map<string, string>> {
    if (!ids.length) return new Map();
    const rows = await this.users.find({ select: { id: true, email: true }, where: { id: In(ids) } });
    return new Map(rows.map((u) => [u.id, u.email]));
  }

  /** The user, or 404 `{"error":"not_found"}`. */
  async require(id: string): Promise<User> {
    const user = typeof id === 'string' ? await this.findById(id) : null;
    if (!user) throw notFound('no such user');
    return user;
  }

  findByEmail(email: string): Promise<User | null> {
    return this.users.findOneBy({ email: email.trim().toLowerCase() });
  }

  /**
   * Up to `page.limit` users matching the filter, in email order after `page.afterEmail`. The
   * search q is a case-insensitive substring of the email or the name, found through a trigram
   * index when q has 3 characters or more (identity/user-search.ts).
   */
  async list(filter: UserFilter, page: UserPageRequest): Promise<User[]> {
    return (await this.listQuery(filter, page)).getMany();
  }

  /** The statement list() runs (exported for the query-plan tests). */
  async listQuery(filter: UserFilter, page: UserPageRequest): Promise<SelectQueryBuilder<User>> {
    const qb = this.users.createQueryBuilder('u').orderBy('u.email', 'ASC').take(page.limit);
    if (page.afterEmail !== null) qb.andWhere('u.email > :after', { after: page.afterEmail });
    if (filter.role) qb.andWhere('u.role = :role', { role: filter.role });
    if (filter.disabled !== undefined) qb.andWhere(filter.disabled ? 'u.disabled = TRUE' : 'u.disabled = FALSE');
    if (filter.q && this.transactions.engine === 'postgres' && matchesNoStoredText(filter.q)) {
      // Sent as a parameter, a NUL fails the statement (22021): answer what it would match, nobody.
      qb.andWhere('FALSE');
    } else if (filter.q) {
      const pattern = substringPattern(filter.q);
      // What matches, on both engines and with or without an index: PostgreSQL's trigram indexes serve these conditions themselves.
      qb.andWhere(new Brackets((w) => w.where(`u.email LIKE :q ESCAPE '\\'`, { q: pattern }).orWhere(`LOWER(u.display_name) LIKE :q ESCAPE '\\'`, { q: pattern })));
      if (this.transactions.engine === 'sqlite' && (await this.fewSqliteMatches(filter.q))) qb.andWhere(SQLITE_IDS_CONTAINING, { phrase: ftsPhrase(filter.q) });
    }
    return qb;
  }

  /**
   * SQLite: whether users_search should drive the search: q is long enough for trigrams and at most
   * SQLITE_INDEX_DRIVEN_MAX users contain it. With more, the walk in email order fills a page sooner.
   */
  private async fewSqliteMatches(q: string): Promise<boolean> {
    if (!trigramSearchable(q)) return false;
    const [{ n }] = await this.transactions.query<{ n: number }>(SQLITE_COUNT_MATCHES, [ftsPhrase(q)]);
    return n <= SQLITE_INDEX_DRIVEN_MAX;
  }

  /** Email and status for policy checks on the proxy's hot path (cached; refreshed on change). */
  async profile(id: string): Promise<{ email: string; disabled: boolean } | null> {
    const cached = this.profiles.get(id);
    if (cached && cached.staleAt > Date.now()) return cached;
    const user = await this.findById(id);
    if (!user) return null;
    // Bounded by the users table; re-read after the feed's safety TTL with replicas (a missed notification).
    const profile = { email: user.email, disabled: user.disabled, staleAt: Date.now() + this.feed.cacheTtlMs };
    this.profiles.set(id, profile);
    return profile;
  }

  async setDisabled(id: string, disabled: boolean): Promise<void> {
    await this.transactions.run(async (tx) => {
      if (await tx.update(this.users, { id }, { disabled })) await this.audit.recordIn(tx, { type: disabled ? 'user.disable' : 'user.enable', outcome: 'success', userId: id });
    });
    this.forgetProfile(id);
  }

  /** The cached profile here and on every other replica. */
  private forgetProfile(id: string): void {
    this.profiles.delete(id);
    this.feed.publish('user.changed', id);
  }

  async rename(id: string, name: string | null): Promise<void> {
    await this.users.update({ id }, { displayName: name });
  }

  /**
   * Changes a user's role. Taking 'admin' away refuses (409) when it would leave no enabled admin
   * who can sign in; the check and the change are one statement under LAST_ADMIN_LOCK, so two
   * admins demoting each other at once (on any replicas) cannot both win.
   */
  async setRole(id: string, role: UserRole): Promise<void> {
    const user = await this.require(id);
    if (user.role === role) return;
    const changed = await this.changeUnlessLastAdmin(user, 'UPDATE users SET role = ? WHERE id = ?', [role, id]);
    if (!changed) throw conflict('this is the last enabled admin; make another user an admin first');
  }

  /** Disables sign-in (and, through the profile cache, the proxy) at once; refuses for the last enabled admin. */
  async disable(id: string): Promise<void> {
    const user = await this.require(id);
    const changed = await this.changeUnlessLastAdmin(user, 'UPDATE users SET disabled = TRUE WHERE id = ?', [id]);
    this.forgetProfile(id);
    if (!changed) throw conflict('this is the last enabled admin; make another user an admin first');
  }

  /** Deletes the account row (the caller removes what hangs off it); refuses for the last enabled admin. */
  async delete(id: string): Promise<void> {
    const user = await this.require(id);
    const changed = await this.changeUnlessLastAdmin(user, 'DELETE FROM users WHERE id = ?', [id]);
    this.forgetProfile(id);
    if (!changed) throw conflict('this is the last enabled admin; make another user an admin first');
    await this.invites.voidFor(id);
  }

  /**
   * Runs `statement` (… WHERE id = ?) on the user's row; for an admin only while another enabled
   * admin remains, checked in the same statement and under LAST_ADMIN_LOCK. False when it was refused.
   */
  private changeUnlessLastAdmin(user: User, statement: string, params: unknown[]): Promise<boolean> {
    if (user.role !== 'admin') return this.transactions.run(async (tx) => (await tx.execute(statement, params)) > 0);
    return this.transactions.run(async (tx) => {
      await tx.lock(LAST_ADMIN_LOCK);
      return (await tx.execute(`${statement} AND ${OTHER_ACTIVE_ADMIN}`, [...params, user.id])) > 0;
    });
  }

  /** Sets a new password (checked against the policy); the caller decides which sessions survive. */
  async setPassword(id: string, password: string): Promise<void> {
    const problem = passwordProblem(password);
    if (problem) throw invalidFields({ password: problem });
    await this.users.update({ id }, { passwordHash: await hashPassword(password) });
  }

  /** A signed-in user changing their own password: the current one must be right (400 naming the field otherwise). */
  async changePassword(id: string, currentPassword: string, newPassword: string): Promise<void> {
    const user = await this.require(id);
    if (!user.passwordHash || !(await verifyPassword(user.passwordHash, currentPassword))) {
      throw invalidFields({ currentPassword: 'is not your current password' });
    }
    const problem = passwordProblem(newPassword);
    if (problem) throw invalidFields({ newPassword: problem });
    await this.users.update({ id }, { passwordHash: await hashPassword(newPassword) });
  }

  /** The user if the email and password match an enabled account; null otherwise, whichever part was wrong. */
  async verifyCredentials(email: string, password: string): Promise<User | null> {
    const user = email ? await this.findByEmail(email) : null;
    if (!user?.passwordHash) {
      // Unknown email, or an invited user who has not chosen a password yet: same time as a real check.
      this.dummyHash ??= hashPassword(randomToken());
      await verifyPassword(await this.dummyHash, password);
      return null;
    }
    const ok = await verifyPassword(user.passwordHash, password);
    if (!ok || user.disabled) return null;
    await this.users.update({ id: user.id }, { lastLoginAt: Date.now() });
    return user;
  }

  /** Records a sign-in that did not go through the password form (a redeemed invite link). */
  async touchLogin(id: string): Promise<void> {
    await this.users.update({ id }, { lastLoginAt: Date.now() });
  }
}

function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; driverError?: { code?: string } };
  return (e.driverError?.code ?? e.code ?? '').startsWith('SQLITE_CONSTRAINT');
}
