import { createHmac } from 'node:crypto';
import { CanActivate, ExecutionContext, ForbiddenException, Injectable } from '@nestjs/common';
import type { Request } from 'express';
import { safeEqual } from '../common/crypto';
import { LoginSessionService } from '../identity/login-session.service';
import { VaultService } from '../vault/vault.service';

export const CSRF_HEADER = 'x-csrf-token';
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
/** Sec-Fetch-Site values of a request the console itself makes (or the user typed). */
const OWN_SITE = new Set(['same-origin', 'none']);

/**
 * CSRF tokens of the admin API: an HMAC of the session's id under a key derived from the vault's
 * master key, so nothing is stored per session, a token is worthless for any other session, and
 * tokens survive a restart. The console reads its token from GET /admin/api/session.
 */
@Injectable()
export class AdminCsrf {
  private key: Buffer | null = null;

  constructor(
    private readonly sessions: LoginSessionService,
    private readonly vault: VaultService,
  ) {}

  /** The token for this request's session; null without a session. */
  tokenFor(req: Request): string | null {
    const sessionId = this.sessions.sessionIdOf(req);
    if (!sessionId) return null;
    this.key ??= this.vault.deriveKey('admin-csrf');
    return createHmac('sha256', this.key).update(sessionId).digest('base64url');
  }

  verify(req: Request, presented: unknown): boolean {
    const expected = this.tokenFor(req);
    return typeof presented === 'string' && !!expected && safeEqual(presented, expected);
  }
}

/**
 * Refuses a state-changing request (POST, PUT, PATCH, DELETE) unless its X-CSRF-Token header
 * carries the session's token, and any request a browser marks as coming from another site
 * (Fetch Metadata, Sec-Fetch-Site). Runs after SessionGuard, so no session stays a 401.
 */
@Injectable()
export class AdminCsrfGuard implements CanActivate {
  constructor(private readonly csrf: AdminCsrf) {}

  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<Request>();
    if (SAFE_METHODS.has(req.method)) return true;
    const site = req.headers['sec-fetch-site'];
    if (site !== undefined && !OWN_SITE.has(String(site))) throw csrfRefused('cross-site requests are refused');
    if (!this.csrf.verify(req, req.headers[CSRF_HEADER])) {
      throw csrfRefused('missing or wrong X-CSRF-Token header; the token is in GET /admin/api/session');
    }
    return true;
  }
}

function csrfRefused(message: string): ForbiddenException {
  return new ForbiddenException({ error: 'csrf', message });
}
