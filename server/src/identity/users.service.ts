import { randomUUID } from 'node:crypto';
import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { randomToken } from '../common/crypto';
import { Transactions } from '../database/transactions';
import { hashPassword, verifyPassword } from './password';
import { User } from './user.entity';

export const DEFAULT_ADMIN_EMAIL = 'admin@gatehouse.local';

@Injectable()
export class UsersService implements OnModuleInit {
  private readonly logger = new Logger('Identity');
  /** Verified against when the email is unknown, so both cases take the same time. */
  private dummyHash: Promise<string> | null = null;
  private readonly profiles = new Map<string, { email: string; disabled: boolean }>();

  constructor(
    @InjectRepository(User) private readonly users: Repository<User>,
    private readonly transactions: Transactions,
    private readonly audit: AuditService,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.bootstrapAdmin(process.env.GATEHOUSE_ADMIN_EMAIL, process.env.GATEHOUSE_ADMIN_PASSWORD);
  }

  /** On first start, creates the admin account from the environment or with a generated password printed once. */
  async bootstrapAdmin(email: string | undefined, password: string | undefined): Promise<void> {
    if ((await this.users.count()) > 0) return;
    const generated = !password;
    const adminEmail = email?.trim() || DEFAULT_ADMIN_EMAIL;
    const adminPassword = password || randomToken(18);
    await this.create({ email: adminEmail, password: adminPassword, isAdmin: true });
    if (generated) {
      // Printed once, on purpose: there is no other way to learn it. It is never stored in clear.
      process.stdout.write(
        `\n  Gatehouse created the first admin account.\n    email:    ${adminEmail}\n    password: ${adminPassword}\n` +
          `  Change it, or set GATEHOUSE_ADMIN_EMAIL and GATEHOUSE_ADMIN_PASSWORD before the first start.\n\n`,
      );
    } else {
      this.logger.log(`created admin account ${adminEmail}`);
    }
  }

  async create(input: { email: string; password: string; isAdmin?: boolean; displayName?: string }): Promise<User> {
    const user = this.users.create({
      id: randomUUID(),
      email: input.email.trim().toLowerCase(),
      passwordHash: await hashPassword(input.password),
      displayName: input.displayName ?? null,
      isAdmin: input.isAdmin ?? false,
      disabled: false,
      createdAt: Date.now(),
      lastLoginAt: null,
    });
    this.transactions.run((tx) => {
      tx.insert(this.users, user);
      this.audit.recordIn(tx, { type: 'user.create', outcome: 'success', userId: user.id, detail: { email: user.email, is_admin: user.isAdmin } });
    });
    return user;
  }

  findById(id: string): Promise<User | null> {
    return this.users.findOneBy({ id });
  }

  /** Email and status for policy checks on the proxy's hot path (cached; refreshed on change). */
  async profile(id: string): Promise<{ email: string; disabled: boolean } | null> {
    const cached = this.profiles.get(id);
    if (cached) return cached;
    const user = await this.findById(id);
    if (!user) return null;
    const profile = { email: user.email, disabled: user.disabled };
    this.profiles.set(id, profile);
    return profile;
  }

  async setDisabled(id: string, disabled: boolean): Promise<void> {
    this.transactions.run((tx) => {
      if (tx.update(this.users, { id }, { disabled })) this.audit.recordIn(tx, { type: disabled ? 'user.disable' : 'user.enable', outcome: 'success', userId: id });
    });
    this.profiles.delete(id);
  }

  findByEmail(email: string): Promise<User | null> {
    return this.users.findOneBy({ email: email.trim().toLowerCase() });
  }

  /** The user if the email and password match an enabled account; null otherwise, whichever part was wrong. */
  async verifyCredentials(email: string, password: string): Promise<User | null> {
    const user = email ? await this.findByEmail(email) : null;
    if (!user) {
      this.dummyHash ??= hashPassword(randomToken());
      await verifyPassword(await this.dummyHash, password);
      return null;
    }
    const ok = await verifyPassword(user.passwordHash, password);
    if (!ok || user.disabled) return null;
    await this.users.update({ id: user.id }, { lastLoginAt: Date.now() });
    return user;
  }
}
