import { ThrottlerOptions } from '@nestjs/throttler';
import { isAdminApi } from './admin-api.marker';

export const ADMIN_THROTTLER = 'admin';

/**
 * The admin API's rate limit (rate_limit.admin_per_minute), apart from the OAuth one: counted per
 * client address over all admin routes together (a console page makes several calls), and the
 * only throttler that counts them.
 */
export function adminThrottler(perMinute: number): ThrottlerOptions {
  return {
    name: ADMIN_THROTTLER,
    ttl: 60_000,
    limit: perMinute,
    skipIf: (context) => !isAdminApi(context),
    generateKey: (_context, tracker) => `${ADMIN_THROTTLER}:${tracker}`,
  };
}
