/**
 * The grants store is GrantsService (grants/grants.service.ts). The proxy (changed on another
 * branch meanwhile) still injects it by this name; point it at GrantsService and delete this
 * file once both have merged. The same class, so Nest injects the same instance.
 */
export { GrantsService as TokensService } from './grants/grants.service';
export type { TokenResponse } from './grants/token-pairs';
export type { NewCode } from './grants/code-exchange';
