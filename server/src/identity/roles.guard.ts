import { applyDecorators, CanActivate, ExecutionContext, ForbiddenException, Injectable, SetMetadata, UnauthorizedException, UseGuards } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import { resolvedCurrentUser } from './current-user';
import { hasRole, Role } from './roles';
import { SessionGuard } from './session.guard';

const ROLES = 'gatehouse:roles';

/**
 * `@Roles('admin')`: only a signed-in user with one of these roles gets through; others get 403
 * `{"error":"forbidden"}`. It brings SessionGuard along (so it cannot be used without it): no
 * session is answered as SessionGuard answers it, by the route's `@BrowserPage()` marker.
 */
export const Roles = (...roles: [Role, ...Role[]]) => applyDecorators(SetMetadata(ROLES, roles), UseGuards(SessionGuard, RolesGuard));

@Injectable()
export class RolesGuard implements CanActivate {
  constructor(private readonly reflector: Reflector) {}

  canActivate(context: ExecutionContext): boolean {
    const roles = this.reflector.getAllAndOverride<Role[] | undefined>(ROLES, [context.getHandler(), context.getClass()]);
    if (!roles?.length) return true;
    const user = resolvedCurrentUser(context.switchToHttp().getRequest<Request>());
    // Reached without a user only on an @OptionalSession() route: a role needs someone signed in.
    if (!user) throw new UnauthorizedException({ error: 'unauthorized' });
    if (!roles.some((role) => hasRole(user, role))) throw new ForbiddenException({ error: 'forbidden' });
    return true;
  }
}
