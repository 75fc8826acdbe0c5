import type { Request, Response } from 'express';
import { randomToken, safeEqual } from '../common/crypto';
import { formBody } from '../common/form-body';

export const CSRF_COOKIE = 'gh_csrf';
export const CSRF_FIELD = 'csrf';

/**
 * Double-submit CSRF protection for the gateway's own forms: the token sits in a
 * SameSite=Strict cookie and in a hidden field; a cross-site post carries neither match.
 */
export function issueCsrfToken(req: Request, res: Response, scope: { secure: boolean; path: string }): string {
  const existing: unknown = req.cookies?.[CSRF_COOKIE];
  if (typeof existing === 'string' && existing.length >= 32) return existing;
  const token = randomToken();
  res.cookie(CSRF_COOKIE, token, { httpOnly: true, sameSite: 'strict', secure: scope.secure, path: scope.path });
  return token;
}

export function checkCsrf(req: Request): boolean {
  const cookie: unknown = req.cookies?.[CSRF_COOKIE];
  const field = formBody(req)[CSRF_FIELD];
  return typeof cookie === 'string' && typeof field === 'string' && cookie.length > 0 && safeEqual(cookie, field);
}
