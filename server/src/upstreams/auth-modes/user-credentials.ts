import { Injectable } from '@nestjs/common';
import { Type } from 'class-transformer';
import { IsArray, IsBoolean, IsOptional, IsString, Matches, ValidateNested } from 'class-validator';
import { AuditService } from '../../audit/audit.service';
import { Transactions } from '../../database/transactions';
import { HEADER_VALUE_PROBLEM, isSendableHeaderValue } from '../../common/header-value';
import { VaultService } from '../../vault/vault.service';
import type { Upstream } from '../upstream';
import { USER_CREDENTIALS_PURPOSE, userUpstreamOwner } from '../../vault/vault-addresses';
import { AuthConfigBase, AuthConfigProblem, AuthModeForm, AuthModeSummary, BaseAuthMode, ConsentInputError, CredentialField, CredentialResult, UNSENDABLE } from './auth-mode';
import { headerProblem, missingHeadersProblem } from './header-map';

/** A {{field}} reference in a header template. */
const TEMPLATE_FIELD = /\{\{\s*([a-z_][a-z0-9_]*)\s*\}\}/g;
const MAX_VALUE_LENGTH = 4096;

/** A credential each user enters at consent. */
export class CredentialFieldConfig {
  @Matches(/^[a-z_][a-z0-9_]{0,40}$/, { message: 'must be a lowercase identifier (letters, digits, _)' })
  name: string;

  @IsString()
  label: string;

  /** Secret fields are masked in the form and never shown back. */
  @IsBoolean()
  secret = true;

  @IsBoolean()
  required = true;
}

export class UserCredentialsAuthConfig extends AuthConfigBase {
  mode = 'user_credentials' as const;

  /** Header name → template over the fields, e.g. "Bearer {{api_key}}". */
  @IsOptional()
  headers?: Record<string, string>;

  @IsOptional()
  @IsArray()
  @ValidateNested({ each: true })
  @Type(() => CredentialFieldConfig)
  fields?: CredentialFieldConfig[];

  check(): AuthConfigProblem | null {
    return missingHeadersProblem(this.mode, this.headers) ?? this.templateProblem() ?? headerProblem(this.headers!, (template) => template.replace(TEMPLATE_FIELD, ''));
  }

  private templateProblem(): AuthConfigProblem | null {
    const fields = this.fields ?? [];
    if (!fields.length) return { key: 'fields', problem: `mode "${this.mode}" needs at least one field` };
    const names = new Set(fields.map((f) => f.name));
    for (const [name, template] of Object.entries(this.headers ?? {})) {
      for (const [, ref] of String(template).matchAll(TEMPLATE_FIELD)) {
        if (!names.has(ref)) return { key: `headers.${name}`, problem: `uses {{${ref}}}, which is not one of the fields` };
      }
    }
    return null;
  }
}

export interface UserCredentialsSettings {
  /** Header name → template over the fields, e.g. "Bearer {{api_key}}". */
  headerTemplates: Record<string, string>;
  credentialFields: CredentialField[];
}

/**
 * Mode "user_credentials": each user types their own credentials on the consent page; the
 * headers are rendered from them. The values are kept per user in the vault, and the rendered
 * headers cached in memory for the proxy's hot path; every write clears the affected entry.
 */
@Injectable()
export class UserCredentialsAuthMode extends BaseAuthMode<UserCredentialsAuthConfig, UserCredentialsSettings> {
  static readonly mode = 'user_credentials';
  static readonly configClass = UserCredentialsAuthConfig;

  readonly noSettings: UserCredentialsSettings = { headerTemplates: {}, credentialFields: [] };
  /** Keyed by the vault owner id, `${userId}:${slug}`; null = nothing stored. */
  private readonly cache = new Map<string, CredentialResult | null>();

  constructor(
    private readonly vault: VaultService,
    private readonly audit: AuditService,
    private readonly transactions: Transactions,
  ) {
    super();
  }

  settingsFrom(config: UserCredentialsAuthConfig): UserCredentialsSettings {
    return { headerTemplates: { ...(config.headers ?? {}) }, credentialFields: (config.fields ?? []).map((f) => ({ ...f })) };
  }

  consentFields(upstream: Upstream): CredentialField[] {
    return upstream.credentialFields;
  }

  async hasConsentInput(upstream: Upstream, userId: string): Promise<boolean> {
    // Existence only: list purposes rather than decrypt the value.
    return (await this.vault.list(userUpstreamOwner(userId, upstream.slug))).includes(USER_CREDENTIALS_PURPOSE);
  }

  /** The consent page is where credentials are entered: it cannot be skipped before they are. */
  canSkipConsent(upstream: Upstream, userId: string): Promise<boolean> {
    return this.hasConsentInput(upstream, userId);
  }

  /**
   * Stores what the user typed at consent. A blank field keeps the stored value,
   * so secrets never need to be shown back to be kept.
   */
  async saveConsentInput(upstream: Upstream, userId: string, input: Record<string, string>): Promise<void> {
    const owner = userUpstreamOwner(userId, upstream.slug);
    const current = (await this.vault.getJson<Record<string, string>>(owner, USER_CREDENTIALS_PURPOSE)) ?? {};
    const next: Record<string, string> = {};
    for (const field of upstream.credentialFields) {
      const typed = (input[field.name] ?? '').trim();
      // Values are sent as header values (templates are checked at config load), so each must be one.
      if (!isSendableHeaderValue(typed)) throw new ConsentInputError(`${field.label} ${HEADER_VALUE_PROBLEM}`, field.name);
      if (typed.length > MAX_VALUE_LENGTH) throw new ConsentInputError(`${field.label} is too long`, field.name);
      const value = typed || current[field.name] || '';
      if (field.required && !value) throw new ConsentInputError(`${field.label} is required`, field.name);
      if (value) next[field.name] = value;
    }
    // The secret and its audit row are one transaction: a crash keeps both or neither.
    await this.transactions.run(async (tx) => {
      await this.vault.putIn(tx, owner, USER_CREDENTIALS_PURPOSE, next, { userId });
      await this.audit.recordIn(tx, {
        type: 'credentials.change',
        outcome: 'success',
        userId,
        upstreamSlug: upstream.slug,
        detail: { fields: Object.keys(next) },
      });
    });
    this.cache.delete(owner.id);
  }

  unsendableCredentialHint(upstream: Upstream): string {
    return `the credential stored for you for ${upstream.name} ${UNSENDABLE}; replace it: connect to ${upstream.name} again and enter it anew`;
  }

  async headersFor(upstream: Upstream, userId: string): Promise<CredentialResult> {
    const owner = userUpstreamOwner(userId, upstream.slug);
    let result = this.cache.get(owner.id);
    if (result === undefined) {
      const values = await this.vault.getJson<Record<string, string>>(owner, USER_CREDENTIALS_PURPOSE);
      result = values ? { headers: renderTemplates(upstream.headerTemplates, values) } : null;
      this.cache.set(owner.id, result);
    }
    return result ?? { reauthorize: 'no credentials have been entered for this upstream' };
  }

  forgetUpstream(slug: string): void {
    for (const key of this.cache.keys()) if (key.endsWith(`:${slug}`)) this.cache.delete(key);
  }

  async forgetUser(upstream: Upstream, userId: string): Promise<void> {
    const owner = userUpstreamOwner(userId, upstream.slug);
    await this.vault.delete(owner, USER_CREDENTIALS_PURPOSE, { userId });
    this.cache.delete(owner.id);
  }

  describe(upstream: Upstream): AuthModeSummary {
    const fields = upstream.credentialFields.map((f) => f.label).join(', ');
    return {
      mode: UserCredentialsAuthMode.mode,
      summary: `each user enters ${fields}; sent as ${Object.keys(upstream.headerTemplates).join(', ')}`,
      secretsSet: [],
    };
  }

  form(): AuthModeForm {
    return {
      label: 'Per-user credentials',
      fields: [
        {
          name: 'fields',
          label: 'Credential fields',
          type: 'credential-fields',
          required: true,
          secret: false,
          help: 'What each user enters (at consent, or on My access): a name (lowercase letters, digits and _, used as {{name}} in the headers), a label, whether it is secret (masked, never shown back) and whether it is required.',
        },
        {
          name: 'headers',
          label: 'Headers',
          type: 'keyvalue',
          required: true,
          secret: false,
          help: 'Header name and a template over the fields, e.g. Authorization: Bearer {{api_key}}. A header whose template uses an optional field the user left empty is not sent.',
        },
      ],
    };
  }

  formValues(upstream: Upstream): Record<string, unknown> {
    return { headers: { ...upstream.headerTemplates }, fields: upstream.credentialFields.map((f) => ({ ...f })) };
  }
}

/** "Bearer {{api_key}}" → "Bearer abc". A header whose template uses a missing optional field is left out. */
export function renderTemplates(templates: Record<string, string>, values: Record<string, string>): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, template] of Object.entries(templates)) {
    let missing = false;
    const value = template.replace(TEMPLATE_FIELD, (_, field: string) => {
      if (!values[field]) missing = true;
      return values[field] ?? '';
    });
    if (!missing) headers[name.toLowerCase()] = value;
  }
  return headers;
}
