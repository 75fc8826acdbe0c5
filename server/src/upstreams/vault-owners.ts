import type { VaultOwner } from '../vault/vault.service';

/** The vault owner of an upstream's own secrets (static header values, OAuth client secret). */
export const upstreamOwner = (slug: string): VaultOwner => ({ type: 'upstream', id: slug });

/** The vault owner of what one user keeps for one upstream (credentials, upstream tokens). */
export const userUpstreamOwner = (userId: string, slug: string): VaultOwner => ({ type: 'user_upstream', id: `${userId}:${slug}` });
