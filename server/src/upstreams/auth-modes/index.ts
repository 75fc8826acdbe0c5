import { Exclude, Expose } from 'class-transformer';
import { IsIn } from 'class-validator';
import { AuthConfigBase, AuthModeClass } from './auth-mode';
import { HeadersAuthMode, HeadersSettings } from './headers';
import { NoneAuthMode } from './none';
import { OAuthAuthMode, OAuthSettings } from './oauth';
import { UserCredentialsAuthMode, UserCredentialsSettings } from './user-credentials';

/**
 * Every upstream auth mode, in the order config errors list them. Adding a mode: its file in this
 * folder, its class here, and its settings type in AuthSettings below.
 */
export const AUTH_MODE_CLASSES = [NoneAuthMode, HeadersAuthMode, UserCredentialsAuthMode, OAuthAuthMode] as const satisfies readonly AuthModeClass[];

/** What the upstream record's `authSettings` JSON holds (and so every `Upstream`): each mode's settings. */
export type AuthSettings = HeadersSettings & UserCredentialsSettings & OAuthSettings;

export type AuthMode = (typeof AUTH_MODE_CLASSES)[number]['mode'];
export const AUTH_MODES: readonly AuthMode[] = AUTH_MODE_CLASSES.map((c) => c.mode);
/** An upstream's `auth` config: a union keyed on `mode`. */
export type AuthConfig = InstanceType<(typeof AUTH_MODE_CLASSES)[number]['configClass']>;

/** The mode of an upstream whose config has no `auth.mode`. */
const DEFAULT_MODE = NoneAuthMode;

/**
 * `auth` with a mode no class is registered for: only `mode` is kept (class-level @Exclude), so
 * the error names the mode rather than every key that mode's class would have known.
 */
@Exclude()
class UnknownAuthModeConfig extends AuthConfigBase {
  @Expose()
  @IsIn(AUTH_MODES, { message: `must be one of: ${AUTH_MODES.join(', ')}` })
  mode = ''; // always replaced: this class is only chosen for a mode that is there
}

/** The class that validates an upstream's plain `auth` object from the config, chosen by its `mode`. */
export function authConfigClassFor(auth: unknown): new () => AuthConfigBase {
  const mode = (auth as { mode?: unknown } | null | undefined)?.mode;
  if (mode === undefined) return DEFAULT_MODE.configClass;
  return AUTH_MODE_CLASSES.find((c) => c.mode === mode)?.configClass ?? UnknownAuthModeConfig;
}

export function defaultAuthConfig(): AuthConfig {
  return new DEFAULT_MODE.configClass();
}

export type { AuthConfigProblem, AuthFormField, AuthModeForm, AuthModeStrategy, AuthModeSummary, CredentialField, CredentialResult } from './auth-mode';
export { AuthStepUnavailable, ConsentInputError } from './auth-mode';
export { AuthModesService } from './auth-modes.service';
