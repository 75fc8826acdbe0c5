import { applyDecorators, Controller, createParamDecorator, ExecutionContext, UseFilters, UseGuards, UseInterceptors, UsePipes } from '@nestjs/common';
import type { Request } from 'express';
import { NoStore } from '../common/no-store';
import { Actor } from '../identity/actor';
import { resolvedCurrentUser } from '../identity/current-user';
import { Roles } from '../identity/roles.guard';
import { AdminApiMarker } from './admin-api.marker';
import { AdminThrottleFilter } from './admin-throttle.filter';
import { AdminCsrfGuard } from './csrf';
import { adminValidationPipe } from './validation';

/**
 * `@AdminApi('users')`: a controller of the admin API at /admin/api/users. Its routes need a
 * session (401 JSON) and the 'admin' role (403; a route may allow more with its own `@Roles`),
 * a CSRF token on every state-changing call, DTO-validated input (400 naming the field), and
 * answer uncacheable JSON, under the admin rate limit (not the OAuth one).
 */
export const AdminApi = (resource: string) =>
  applyDecorators(
    Controller(resource ? `admin/api/${resource}` : 'admin/api'),
    AdminApiMarker(),
    Roles('admin'),
    UseGuards(AdminCsrfGuard),
    UsePipes(adminValidationPipe),
    UseFilters(AdminThrottleFilter),
    UseInterceptors(NoStore),
  );

/** `@CurrentActor() actor: Actor`: the signed-in user and their address, for audit rows. */
export const CurrentActor = createParamDecorator((_data: unknown, context: ExecutionContext): Actor => {
  const req = context.switchToHttp().getRequest<Request>();
  const user = resolvedCurrentUser(req);
  if (!user) throw new Error('@CurrentActor() is used on a route without a session');
  return { userId: user.id, ip: req.ip ?? null };
});
