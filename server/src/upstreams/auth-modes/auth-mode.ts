import { Allow } from 'class-validator';
import type { VaultPurpose } from '../../vault/vault-addresses';
import type { Upstream } from '../upstream';

/**
 * An upstream auth mode: what the gateway sends upstream in place of the client's token, and
 * everything that follows from it (config, vault, /authorize, proxy, console). One file per mode
 * in this folder implements it; `index.ts` registers them. Nothing outside this folder branches
 * on the mode.
 *
 * Auth modes say nothing about how the gateway reaches the upstream (its URL, or later a spawned
 * process): that is a transport, a separate seam.
 */
export interface AuthModeStrategy<C extends AuthConfigBase = AuthConfigBase, S extends object = object> {
  /** This mode's keys in the upstream record's `authSettings` while the upstream uses another mode. */
  readonly noSettings: S;
  /** The non-secret settings stored in the upstream record's `authSettings` JSON (and so on `Upstream`). */
  settingsFrom(config: C): S;
  /** The secrets to keep in the vault under the upstream's owner: purpose → value. */
  secretsFrom(config: C): Map<VaultPurpose, string>;
  /**
   * Whether this mode seeds `purpose` from the config. Every mode's purposes are removed from the
   * vault when the config no longer asks for them (e.g. after a mode change).
   */
  managesSecret(purpose: VaultPurpose): boolean;

  /** The fields the user fills in on the consent page (empty for most modes). */
  consentFields(upstream: Upstream): CredentialField[];
  /** Whether the user already gave what the consent fields ask for (blank fields then keep it). */
  hasConsentInput(upstream: Upstream, userId: string): Promise<boolean>;
  /** Stores what the user typed in the consent fields; throws ConsentInputError for a bad value. */
  saveConsentInput(upstream: Upstream, userId: string, input: Record<string, string>): Promise<void>;
  /**
   * A sign-in step /authorize sends the browser through before the code is issued: the URL to
   * redirect to (which comes back to `returnTo`, a same-origin path), or null when none is needed.
   * Throws AuthStepUnavailable when the step cannot start.
   */
  prerequisite(upstream: Upstream, userId: string, returnTo: string): Promise<string | null>;
  /** False when the consent page must be shown even though an earlier consent covers the request. */
  canSkipConsent(upstream: Upstream, userId: string): Promise<boolean>;

  /** The proxy's hot path: the headers to add upstream, or why the user must authorize again. */
  headersFor(upstream: Upstream, userId: string): Promise<CredentialResult>;
  /** The upstream answered 401 to a request sent with headersFor()'s headers. */
  onUpstreamUnauthorized(upstream: Upstream, userId: string): void;

  /** Told to the client when headersFor()'s value cannot be sent as an HTTP header: whose it is and who replaces it. */
  unsendableCredentialHint(upstream: Upstream): string;

  /** What the console shows about the upstream's auth. Never a secret value. */
  describe(upstream: Upstream): AuthModeSummary;
  /** The console's form for this mode: its label and the fields of the upstream's `auth` it edits. */
  form(): AuthModeForm;
  /**
   * The upstream's `auth` as the form (and config.yaml) spells it, without `mode` and without any
   * secret value (secret fields left out; the values of a secret key-value field are ''), so the
   * console can fill in its edit form.
   */
  formValues(upstream: Upstream): Record<string, unknown>;
  /**
   * A console edit leaves secrets blank to keep them (they are never shown back): fills each blank
   * secret of `config` from `stored` (the upstream's vault secrets, purpose → value). A blank the
   * vault cannot fill (a new header without a value) is a problem.
   */
  keepStoredSecrets(config: C, stored: ReadonlyMap<VaultPurpose, string>): AuthConfigProblem | null;
  /** Drops what is cached about an upstream after its settings or secrets changed. */
  forgetUpstream(slug: string): void;
  /** Forgets what this mode keeps for the user at this upstream (the user deletes it on My access). */
  forgetUser?(upstream: Upstream, userId: string): Promise<void>;
  /**
   * The user's last live grant at this upstream ended (revoked by the client, the user or an
   * admin): forget what exists only for their grants, e.g. upstream tokens. What the user typed
   * themselves (credentials) is theirs to keep or delete, so modes keeping only that omit this.
   */
  onLastGrantEnded?(upstream: Upstream, userId: string): Promise<void>;
}

/** Why a credential could not be forwarded (the proxy found a character no header may carry). */
export const UNSENDABLE = 'cannot be sent as an HTTP header (it holds a control character or a character beyond Latin-1)';

/** What a mode's class says before any instance exists (the config is validated without Nest). */
export interface AuthModeClass {
  /** The value of `auth.mode` in the config, and of `Upstream.authMode`. */
  readonly mode: string;
  /** Validates `auth` when `auth.mode` names this mode. */
  readonly configClass: new () => AuthConfigBase;
  new (...deps: never[]): AuthModeStrategy;
}

/** What the proxy sends upstream for one request, or why the user must authorize again. */
export type CredentialResult = { headers: Record<string, string> } | { reauthorize: string };

/** A field the user fills in at consent. */
export interface CredentialField {
  name: string;
  label: string;
  /** Masked in the form and never shown back. */
  secret: boolean;
  required: boolean;
}

/**
 * A field of a mode's form in the admin console. `name` is the field's path in the upstream's
 * `auth` object, the same as in config.yaml (e.g. "headers", "oauth.client_id"): the console sends
 * back an `auth` object config.yaml could hold, and the mode's config class validates it.
 */
export interface AuthFormField {
  name: string;
  label: string;
  /**
   * text/url/secret: a string; list: strings; keyvalue: name → string; credential-fields: the
   * user_credentials field list ({ name, label, secret, required }[]).
   */
  type: 'text' | 'secret' | 'url' | 'list' | 'keyvalue' | 'credential-fields';
  required: boolean;
  help: string;
  /** Write-only: never shown back, and left blank in an edit the stored value is kept (type 'secret'; or a keyvalue's values). */
  secret: boolean;
}

export interface AuthModeForm {
  /** The mode's name for people, e.g. "Static headers". */
  label: string;
  fields: AuthFormField[];
}

export interface AuthModeSummary {
  mode: string;
  /** One line for people, e.g. "static headers: X-Api-Key". */
  summary: string;
  /** The upstream-wide secrets the vault holds for this mode, by what they are (never their values). */
  secretsSet: string[];
}

/** A config problem; `key` is relative to the upstream's `auth`, e.g. "headers.X-Api-Key". */
export interface AuthConfigProblem {
  key: string;
  problem: string;
}

/**
 * The base of every mode's `auth` config class. The mode picked the class (see index.ts), so
 * `mode` itself needs no further check here. The index signature lets mode-agnostic code read
 * a key without narrowing on `mode` first.
 */
export abstract class AuthConfigBase {
  @Allow()
  mode: string;

  [key: string]: unknown;

  /** Rules across keys that class-validator's decorators cannot say; null when the config is fine. */
  check(): AuthConfigProblem | null {
    return null;
  }
}

/** A value typed at consent that cannot be stored; `field` names the form field to mark. */
export class ConsentInputError extends Error {
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(message);
  }
}

/** A sign-in step at /authorize cannot start; `title` and `userMessage` are for the browser page. */
export class AuthStepUnavailable extends Error {
  constructor(
    logMessage: string,
    readonly title: string,
    readonly userMessage: string,
  ) {
    super(logMessage);
  }
}

/** Defaults for the optional parts of a mode, so each mode's file holds only what it does. */
export abstract class BaseAuthMode<C extends AuthConfigBase, S extends object> implements AuthModeStrategy<C, S> {
  abstract readonly noSettings: S;
  abstract settingsFrom(config: C): S;
  abstract headersFor(upstream: Upstream, userId: string): Promise<CredentialResult>;
  abstract describe(upstream: Upstream): AuthModeSummary;
  abstract form(): AuthModeForm;
  abstract formValues(upstream: Upstream): Record<string, unknown>;

  /** Modes without upstream-wide secrets have nothing to keep. */
  keepStoredSecrets(_config: C, _stored: ReadonlyMap<VaultPurpose, string>): AuthConfigProblem | null {
    return null;
  }

  secretsFrom(_config: C): Map<VaultPurpose, string> {
    return new Map();
  }

  managesSecret(_purpose: VaultPurpose): boolean {
    return false;
  }

  consentFields(_upstream: Upstream): CredentialField[] {
    return [];
  }

  async hasConsentInput(_upstream: Upstream, _userId: string): Promise<boolean> {
    return false;
  }

  async saveConsentInput(_upstream: Upstream, _userId: string, _input: Record<string, string>): Promise<void> {}

  async prerequisite(_upstream: Upstream, _userId: string, _returnTo: string): Promise<string | null> {
    return null;
  }

  async canSkipConsent(_upstream: Upstream, _userId: string): Promise<boolean> {
    return true;
  }

  onUpstreamUnauthorized(_upstream: Upstream, _userId: string): void {}

  unsendableCredentialHint(upstream: Upstream): string {
    return `the credential configured for ${upstream.name} ${UNSENDABLE}; ask an administrator to replace it`;
  }

  forgetUpstream(_slug: string): void {}
}
