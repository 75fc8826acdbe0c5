import { Injectable } from '@nestjs/common';
import type { Request } from 'express';
import { InjectRepository } from '@nestjs/typeorm';
import { LessThan, Repository } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { randomToken, sha256 } from '../common/crypto';
import { ConfigService } from '../config/config.service';
import { Transactions } from '../database/transactions';
import { LoginSession } from './login-session.entity';
import { User } from './user.entity';
import { UsersService } from './users.service';

export const SESSION_COOKIE = 'gh_session';

@Injectable()
export class LoginSessionService {
  constructor(
    @InjectRepository(LoginSession) private readonly sessions: Repository<LoginSession>,
    private readonly users: UsersService,
    private readonly config: ConfigService,
    private readonly transactions: Transactions,
    private readonly audit: AuditService,
  ) {}

  /** Starts a session, with its audit row, and returns the cookie value (the only place the secret exists). */
  async start(userId: string, ip: string | null = null): Promise<string> {
    const secret = randomToken();
    const now = Date.now();
    await this.transactions.run(async (tx) => {
      await tx.delete(this.sessions, { expiresAt: LessThan(now) });
      await tx.insert(this.sessions, {
        idHash: sha256(secret),
        userId,
        createdAt: now,
        expiresAt: now + this.config.oauth.login_session_ttl * 1000,
      });
      await this.audit.recordIn(tx, { type: 'login', outcome: 'success', userId, ip });
    });
    return secret;
  }

  /** The signed-in user of this request, if any: the one place that reads the session cookie. */
  userOf(req: Request): Promise<User | null> {
    return this.userFor(sessionCookieOf(req));
  }

  /** Sign-out: forgets this request's session. */
  endOf(req: Request): Promise<void> {
    return this.end(sessionCookieOf(req));
  }

  /**
   * Ends every session of the user (disabled, deleted, password reset), or every other one when
   * `keep` is the request of the session to keep (a user who changed their own password).
   */
  async endAllFor(userId: string, keep?: Request): Promise<void> {
    const kept = keep ? sessionCookieOf(keep) : undefined;
    const qb = this.sessions.createQueryBuilder().delete().from(LoginSession).where('user_id = :userId', { userId });
    if (kept) qb.andWhere('id_hash != :kept', { kept: sha256(kept) });
    await qb.execute();
  }

  /** The stored id of this request's session (the SHA-256 of its cookie), e.g. to bind a CSRF token to; null without one. */
  sessionIdOf(req: Request): string | null {
    const cookie = sessionCookieOf(req);
    return cookie ? sha256(cookie) : null;
  }

  private async userFor(cookieValue: string | undefined): Promise<User | null> {
    if (!cookieValue) return null;
    const session = await this.sessions.findOneBy({ idHash: sha256(cookieValue) });
    if (!session || session.expiresAt < Date.now()) return null;
    const user = await this.users.findById(session.userId);
    return user && !user.disabled ? user : null;
  }

  private async end(cookieValue: string | undefined): Promise<void> {
    if (cookieValue) await this.sessions.delete({ idHash: sha256(cookieValue) });
  }

  cookieOptions() {
    return {
      httpOnly: true,
      sameSite: 'lax' as const,
      secure: this.config.secureCookies,
      path: this.config.cookiePath,
      maxAge: this.config.oauth.login_session_ttl * 1000,
    };
  }
}

/** cookie-parser fills req.cookies; anything but a non-empty string is no session. */
function sessionCookieOf(req: Request): string | undefined {
  const value: unknown = req.cookies?.[SESSION_COOKIE];
  return typeof value === 'string' && value ? value : undefined;
}
