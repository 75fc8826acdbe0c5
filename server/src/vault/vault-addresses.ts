/**
 * The vault's address space, in one place: who a secret belongs to (its owner) and what it is
 * (its purpose). VaultService takes only these types, so a misspelt purpose or owner type fails
 * to compile instead of reading back null. The strings are stored in vault_secrets and bound into
 * each secret's associated data (vault-crypto.ts): renaming one orphans what is stored under it.
 */

/** 'upstream': an upstream's own secrets; 'user_upstream': what one user keeps for one upstream; 'identity_provider': an OpenID Connect provider added in the console. */
export type VaultOwnerType = 'upstream' | 'user_upstream' | 'identity_provider';

/** Who a secret belongs to; build one with upstreamOwner() or userUpstreamOwner(). */
export interface VaultOwner {
  type: VaultOwnerType;
  id: string;
}

/** Every owner of one type whose id ends with `idSuffix` (VaultService.deleteOwnersIn). */
export interface VaultOwnerSet {
  type: VaultOwnerType;
  idSuffix: string;
}

/** The vault owner of an upstream's own secrets (static header values, OAuth client secret and registration). */
export const upstreamOwner = (slug: string): VaultOwner => ({ type: 'upstream', id: slug });

/** The vault owner of what one user keeps for one upstream (credentials, upstream tokens). */
export const userUpstreamOwner = (userId: string, slug: string): VaultOwner => ({ type: 'user_upstream', id: `${userId}:${slug}` });

/** Every user's vault owner for one upstream: their ids all end with `:${slug}`. */
export const usersOfUpstream = (slug: string): VaultOwnerSet => ({ type: 'user_upstream', idSuffix: `:${slug}` });

/** The vault owner of a console-added OpenID Connect provider's secrets. */
export const identityProviderOwner = (id: string): VaultOwner => ({ type: 'identity_provider', id });

/** Under identityProviderOwner(id): the gateway's client secret at that provider. */
export const OIDC_CLIENT_SECRET_PURPOSE = 'oidc_client_secret';

// Purposes under upstreamOwner(slug).

/** The OAuth client secret an admin configured for the upstream's authorization server. */
export const CLIENT_SECRET_PURPOSE = 'oauth_client_secret';
/** The gateway's RFC 7591 registration at the upstream's authorization server (JSON), reused across restarts. */
export const REGISTRATION_PURPOSE = 'oauth_registration';
/** A static header's value: `header:<name>`. */
export const HEADER_PURPOSE_PREFIX = 'header:';
export type HeaderPurpose = `${typeof HEADER_PURPOSE_PREFIX}${string}`;
export const headerPurpose = (name: string): HeaderPurpose => `${HEADER_PURPOSE_PREFIX}${name}`;
/** An environment variable of a stdio or spawned upstream's process: `env:<NAME>`. */
export const ENV_PURPOSE_PREFIX = 'env:';
export type EnvPurpose = `${typeof ENV_PURPOSE_PREFIX}${string}`;
export const envPurpose = (name: string): EnvPurpose => `${ENV_PURPOSE_PREFIX}${name}`;

// Purposes under userUpstreamOwner(userId, slug).

/** The user's tokens at the upstream's authorization server (JSON, StoredUpstreamTokens). */
export const TOKENS_PURPOSE = 'oauth_tokens';
/** The values the user typed on the consent page, as one JSON object. */
export const USER_CREDENTIALS_PURPOSE = 'credentials';

/** Every purpose the gateway stores a secret under. */
export type VaultPurpose =
  | typeof OIDC_CLIENT_SECRET_PURPOSE
  | typeof CLIENT_SECRET_PURPOSE
  | typeof REGISTRATION_PURPOSE
  | HeaderPurpose
  | EnvPurpose
  | typeof TOKENS_PURPOSE
  | typeof USER_CREDENTIALS_PURPOSE;
