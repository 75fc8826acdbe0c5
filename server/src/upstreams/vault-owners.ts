import type { VaultOwner } from '../vault/vault.service';

/** The vault owner of an upstream's own secrets (static header values, OAuth client secret). */
export const upstreamOwner = (slug: string): VaultOwner => ({ type: 'upstream', id: slug });

/** The vault owner of what one user keeps for one upstream (credentials, upstream tokens). */
export const userUpstreamOwner = (userId: string, slug: string): VaultOwner => ({ type: 'user_upstream', id: `${userId}:${slug}` });

/** Every user's vault owner for one upstream, as VaultService.deleteOwnersIn takes it: their ids all end with `:${slug}`. */
export const usersOfUpstream = (slug: string): { type: string; idSuffix: string } => ({ type: 'user_upstream', idSuffix: `:${slug}` });
