import { Injectable } from '@nestjs/common';
import { IsOptional } from 'class-validator';
import { VaultService } from '../../vault/vault.service';
import type { Upstream } from '../upstream';
import { HEADER_PURPOSE_PREFIX, headerPurpose, upstreamOwner, VaultPurpose } from '../../vault/vault-addresses';
import { AuthConfigBase, AuthConfigProblem, AuthModeForm, AuthModeSummary, BaseAuthMode, CredentialResult } from './auth-mode';
import { headerProblem, missingHeadersProblem } from './header-map';

export class HeadersAuthConfig extends AuthConfigBase {
  mode = 'headers' as const;

  /** Header name → value (values may reference ${ENV_VARS}); the values are stored in the vault. */
  @IsOptional()
  headers?: Record<string, string>;

  check(): AuthConfigProblem | null {
    return missingHeadersProblem(this.mode, this.headers) ?? headerProblem(this.headers!, (value) => value);
  }
}

export interface HeadersSettings {
  /** The names of the static headers; their values are in the vault. */
  headerNames: string[];
}

/**
 * Mode "headers": the same fixed headers for every user. Decrypted values are cached in memory so
 * the proxy's hot path does no AES or SQL; a change to the upstream clears its entry.
 */
@Injectable()
export class HeadersAuthMode extends BaseAuthMode<HeadersAuthConfig, HeadersSettings> {
  static readonly mode = 'headers';
  static readonly configClass = HeadersAuthConfig;

  readonly noSettings: HeadersSettings = { headerNames: [] };
  private readonly cache = new Map<string, CredentialResult>();

  constructor(private readonly vault: VaultService) {
    super();
  }

  settingsFrom(config: HeadersAuthConfig): HeadersSettings {
    return { headerNames: Object.keys(config.headers ?? {}) };
  }

  secretsFrom(config: HeadersAuthConfig): Map<VaultPurpose, string> {
    return new Map(Object.entries(config.headers ?? {}).map(([name, value]) => [headerPurpose(name), value]));
  }

  managesSecret(purpose: VaultPurpose): boolean {
    return purpose.startsWith(HEADER_PURPOSE_PREFIX);
  }

  async headersFor(upstream: Upstream): Promise<CredentialResult> {
    const cached = this.cache.get(upstream.slug);
    if (cached) return cached;
    const headers: Record<string, string> = {};
    for (const name of upstream.headerNames) {
      const value = await this.vault.get(upstreamOwner(upstream.slug), headerPurpose(name));
      if (value !== null) headers[name.toLowerCase()] = value;
    }
    const result = { headers };
    this.cache.set(upstream.slug, result);
    return result;
  }

  forgetUpstream(slug: string): void {
    this.cache.delete(slug);
  }

  describe(upstream: Upstream): AuthModeSummary {
    return {
      mode: HeadersAuthMode.mode,
      summary: `static headers: ${upstream.headerNames.join(', ')}`,
      secretsSet: upstream.headerNames.map((name) => `header ${name}`),
    };
  }

  form(): AuthModeForm {
    return {
      label: 'Static headers',
      fields: [
        {
          name: 'headers',
          label: 'Headers',
          type: 'keyvalue',
          required: true,
          secret: true,
          help: 'Header name and value, sent upstream with every request, the same for every user. Values are stored encrypted and never shown again: leave one blank to keep it.',
        },
      ],
    };
  }

  formValues(upstream: Upstream): Record<string, unknown> {
    return { headers: Object.fromEntries(upstream.headerNames.map((name) => [name, ''])) };
  }

  keepStoredSecrets(config: HeadersAuthConfig, stored: ReadonlyMap<VaultPurpose, string>): AuthConfigProblem | null {
    for (const [name, value] of Object.entries(config.headers ?? {})) {
      if (value !== '' && value !== null && value !== undefined) continue;
      const kept = stored.get(headerPurpose(name));
      if (kept === undefined) return { key: `headers.${name}`, problem: 'needs a value' };
      config.headers![name] = kept;
    }
    return null;
  }
}
