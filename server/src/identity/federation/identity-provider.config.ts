import { IsArray, IsEmail, IsIn, IsString, IsUrl, Matches, MaxLength, MinLength, ValidateIf } from 'class-validator';

/** What happens when someone the gateway does not know signs in through the provider. */
export const NEW_USER_POLICIES = ['create', 'invite_only'] as const;
export type NewUserPolicy = (typeof NEW_USER_POLICIES)[number];

/**
 * One OpenID Connect provider users may sign in through (`identity_providers` in config.yaml):
 * Keycloak, Authentik, Google, Entra ID, … The gateway is its confidential client, with the
 * authorization code flow, PKCE (S256), state and nonce.
 */
export class IdentityProviderConfig {
  /** In URLs (/login/oidc/{id}) and as the `source` of the groups it syncs (`oidc:{id}`). */
  @Matches(/^[a-z0-9][a-z0-9-]{0,62}$/, { message: 'must be lowercase letters, digits and dashes' })
  id: string;

  /** The button says "Sign in with {name}". */
  @IsString()
  @MinLength(1)
  @MaxLength(80)
  name: string;

  /** Where `/.well-known/openid-configuration` is found; must equal the `iss` of its ID tokens. */
  @IsUrl({ require_tld: false, protocols: ['http', 'https'], require_protocol: true })
  issuer: string;

  @IsString()
  @MinLength(1)
  client_id: string;

  /** Use `${ENV_NAME}` to keep it out of the file. Sent with client_secret_basic. */
  @IsString()
  @MinLength(1)
  client_secret: string;

  @IsArray()
  @IsString({ each: true })
  scopes: string[] = ['openid', 'email', 'profile'];

  /** The ID-token claim listing the user's groups (an array of names); empty: groups are not synced. */
  @IsString()
  groups_claim = 'groups';

  /** create: an unknown user gets a member account at first sign-in; invite_only: an admin must create (invite) it first. */
  @IsIn(NEW_USER_POLICIES)
  new_users: NewUserPolicy = 'invite_only';

  /** Only emails of these domains may sign in through this provider; empty: any. */
  @IsArray()
  @Matches(/^[a-z0-9.-]+\.[a-z]{2,}$|^[a-z0-9-]+$/i, { each: true, message: 'must be domain names ("example.com")' })
  allowed_email_domains: string[] = [];
}

/** Who may still sign in with a gateway password once users come through an identity provider. */
export const LOCAL_PASSWORD_POLICIES = ['enabled', 'admins_only', 'break_glass'] as const;
export type LocalPasswordPolicy = (typeof LOCAL_PASSWORD_POLICIES)[number];

export class LocalAuthConfig {
  /**
   * enabled: everyone with a password; admins_only: users with the admin role; break_glass: only the
   * account `break_glass_email` (kept for when the provider is down). Federated sign-in is unaffected.
   */
  @IsIn(LOCAL_PASSWORD_POLICIES)
  local_passwords: LocalPasswordPolicy = 'enabled';

  @ValidateIf((o: LocalAuthConfig) => o.local_passwords === 'break_glass')
  @IsEmail({ require_tld: false }, { message: 'must be the email of the break-glass admin when local_passwords is break_glass' })
  break_glass_email?: string;
}
