import type { VaultPurpose } from '../../vault/vault-addresses';
import type { Upstream } from '../upstream';
import type { AuthConfigProblem, AuthFormField, AuthModeStrategy, AuthModeSummary } from './auth-mode';
import type { AuthConfig, AuthSettings } from './index';

/**
 * The registry of auth mode strategies (built in AuthModesModule from AUTH_MODE_CLASSES): the one
 * place that maps an upstream's mode to the code that handles it.
 */
export class AuthModesService {
  constructor(private readonly byMode: ReadonlyMap<string, AuthModeStrategy>) {}

  for(upstream: Pick<Upstream, 'authMode'>): AuthModeStrategy {
    return this.forMode(upstream.authMode);
  }

  /** The `authSettings` of an upstream record for this config: its mode's settings, the others' empty. */
  settingsFrom(config: AuthConfig): AuthSettings {
    return Object.assign(this.noSettings(), this.forMode(config.mode).settingsFrom(config));
  }

  /** Stored settings, with the keys of modes added since the record was written filled in. */
  settingsOf(stored: Partial<AuthSettings>): AuthSettings {
    return Object.assign(this.noSettings(), stored);
  }

  secretsFrom(config: AuthConfig): Map<VaultPurpose, string> {
    return this.forMode(config.mode).secretsFrom(config);
  }

  /** Whether any mode seeds this vault purpose from the config (and so may remove it). */
  managesSecret(purpose: VaultPurpose): boolean {
    return [...this.byMode.values()].some((s) => s.managesSecret(purpose));
  }

  describe(upstream: Upstream): AuthModeSummary {
    return this.for(upstream).describe(upstream);
  }

  /** Every mode's console form, in registration order. */
  forms(): Array<{ mode: string; label: string; fields: AuthFormField[] }> {
    return [...this.byMode].map(([mode, strategy]) => ({ mode, ...strategy.form() }));
  }

  /** The upstream's `auth` as its console form spells it, secrets left out (see AuthModeStrategy.formValues). */
  formValues(upstream: Upstream): Record<string, unknown> {
    return { mode: upstream.authMode, ...this.for(upstream).formValues(upstream) };
  }

  keepStoredSecrets(config: AuthConfig, stored: ReadonlyMap<VaultPurpose, string>): AuthConfigProblem | null {
    return this.forMode(config.mode).keepStoredSecrets(config, stored);
  }

  /** An upstream's settings or secrets changed: every mode drops what it cached about it. */
  forgetUpstream(slug: string): void {
    for (const strategy of this.byMode.values()) strategy.forgetUpstream(slug);
  }

  private forMode(mode: string): AuthModeStrategy {
    const strategy = this.byMode.get(mode);
    if (!strategy) throw new Error(`no auth mode "${mode}" is registered`);
    return strategy;
  }

  private noSettings(): AuthSettings {
    return Object.assign({}, ...[...this.byMode.values()].map((s) => structuredClone(s.noSettings))) as AuthSettings;
  }
}
