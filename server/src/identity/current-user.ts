import { createParamDecorator, ExecutionContext } from '@nestjs/common';
import type { Request } from 'express';
import { User } from './user.entity';

/** The session's user per request, as SessionGuard found it (null: no valid session). */
const usersByRequest = new WeakMap<Request, User | null>();

export function rememberCurrentUser(req: Request, user: User | null): void {
  usersByRequest.set(req, user);
}

/** The user SessionGuard resolved for this request; undefined when the guard has not run. */
export function resolvedCurrentUser(req: Request): User | null | undefined {
  return usersByRequest.get(req);
}

/**
 * `@CurrentUser() user: User | null`: the signed-in user (null only on `@OptionalSession()` routes).
 * The route must be guarded by SessionGuard; without it this throws rather than reading as "signed out".
 */
export const CurrentUser = createParamDecorator((_data: unknown, context: ExecutionContext): User | null => {
  const user = resolvedCurrentUser(context.switchToHttp().getRequest<Request>());
  if (user === undefined) throw new Error('@CurrentUser() is used on a route without SessionGuard');
  return user;
});
