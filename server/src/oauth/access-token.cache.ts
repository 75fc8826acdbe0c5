/**
 * Moved to grants/access-token.cache.ts. The proxy (changed on another branch meanwhile) still
 * imports this path; point it at the new one and delete this file once both have merged.
 */
export type { AccessTokenInfo } from './grants/access-token.cache';
