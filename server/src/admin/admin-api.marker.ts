import { ExecutionContext, SetMetadata } from '@nestjs/common';

const ADMIN_API = 'gatehouse:admin-api';

/** Marks a controller as part of the admin API (set by `@AdminApi()`). */
export const AdminApiMarker = () => SetMetadata(ADMIN_API, true);

/** For the throttlers: whether the route belongs to the admin API (its own limit) or not. */
export function isAdminApi(context: ExecutionContext): boolean {
  return Reflect.getMetadata(ADMIN_API, context.getClass()) === true;
}
