import { Injectable } from '@nestjs/common';
import { AuditService } from '../audit/audit.service';
import { Transactions } from '../database/transactions';
import { VaultService } from '../vault/vault.service';
import { Upstream } from './upstream';
import { UpstreamOAuthService } from './upstream-oauth/upstream-oauth.service';
import { HEADER_PURPOSE, upstreamOwner, UpstreamsService } from './upstreams.service';

export type CredentialResult = { headers: Record<string, string> } | { reauthorize: string };

export const userUpstreamOwner = (userId: string, slug: string) => ({ type: 'user_upstream', id: `${userId}:${slug}` });
const USER_CREDENTIALS = 'credentials';
const MAX_VALUE_LENGTH = 4096;

export class CredentialInputError extends Error {}

/**
 * What the gateway sends upstream in place of the client's token, per auth mode.
 * Decrypted values are cached in memory so the proxy's hot path does no AES or SQL;
 * every write path clears the affected entry.
 */
@Injectable()
export class UpstreamCredentialsService {
  private readonly staticHeaders = new Map<string, Record<string, string>>();
  private readonly userHeaders = new Map<string, Record<string, string> | null>();

  constructor(
    private readonly vault: VaultService,
    private readonly upstreams: UpstreamsService,
    private readonly upstreamOAuth: UpstreamOAuthService,
    private readonly audit: AuditService,
    private readonly transactions: Transactions,
  ) {
    upstreams.onChange((slug) => {
      this.staticHeaders.delete(slug);
      this.upstreamOAuth.forgetUpstreamSettings(slug);
      for (const key of this.userHeaders.keys()) if (key.endsWith(`:${slug}`)) this.userHeaders.delete(key);
    });
  }

  async headersFor(upstream: Upstream, userId: string): Promise<CredentialResult> {
    switch (upstream.authMode) {
      case 'none':
        return { headers: {} };
      case 'headers':
        return { headers: await this.staticHeadersOf(upstream) };
      case 'user_credentials': {
        const headers = await this.userHeadersOf(upstream, userId);
        return headers ? { headers } : { reauthorize: 'no credentials have been entered for this upstream' };
      }
      case 'oauth': {
        const result = await this.upstreamOAuth.accessToken(upstream, userId);
        return 'accessToken' in result ? { headers: { authorization: `Bearer ${result.accessToken}` } } : result;
      }
    }
  }

  async hasUserCredentials(upstream: Upstream, userId: string): Promise<boolean> {
    // Existence only: list purposes rather than decrypt the value.
    return (await this.vault.list(userUpstreamOwner(userId, upstream.slug))).includes(USER_CREDENTIALS);
  }

  /**
   * Stores what the user typed at consent. A blank field keeps the stored value,
   * so secrets never need to be shown back to be kept.
   */
  async saveUserCredentials(upstream: Upstream, userId: string, input: Record<string, string>): Promise<void> {
    const owner = userUpstreamOwner(userId, upstream.slug);
    const current = (await this.vault.getJson<Record<string, string>>(owner, USER_CREDENTIALS)) ?? {};
    const next: Record<string, string> = {};
    for (const field of upstream.credentialFields) {
      const typed = (input[field.name] ?? '').trim();
      if (/[\r\n\0]/.test(typed)) throw new CredentialInputError(`${field.label} must be a single line`);
      if (typed.length > MAX_VALUE_LENGTH) throw new CredentialInputError(`${field.label} is too long`);
      const value = typed || current[field.name] || '';
      if (field.required && !value) throw new CredentialInputError(`${field.label} is required`);
      if (value) next[field.name] = value;
    }
    this.transactions.run((tx) => {
      this.vault.putIn(tx, owner, USER_CREDENTIALS, next, { userId });
      this.audit.recordIn(tx, {
        type: 'credentials.change',
        outcome: 'success',
        userId,
        upstreamSlug: upstream.slug,
        detail: { fields: Object.keys(next) },
      });
    });
    this.userHeaders.delete(owner.id);
  }

  private async staticHeadersOf(upstream: Upstream): Promise<Record<string, string>> {
    const cached = this.staticHeaders.get(upstream.slug);
    if (cached) return cached;
    const headers: Record<string, string> = {};
    for (const name of upstream.headerNames) {
      const value = await this.vault.get(upstreamOwner(upstream.slug), `${HEADER_PURPOSE}${name}`);
      if (value !== null) headers[name.toLowerCase()] = value;
    }
    this.staticHeaders.set(upstream.slug, headers);
    return headers;
  }

  private async userHeadersOf(upstream: Upstream, userId: string): Promise<Record<string, string> | null> {
    const owner = userUpstreamOwner(userId, upstream.slug);
    if (this.userHeaders.has(owner.id)) return this.userHeaders.get(owner.id)!;
    const values = await this.vault.getJson<Record<string, string>>(owner, USER_CREDENTIALS);
    const headers = values ? renderTemplates(upstream.headerTemplates, values) : null;
    this.userHeaders.set(owner.id, headers);
    return headers;
  }
}

/** "Bearer {{api_key}}" → "Bearer abc". A header whose template uses a missing optional field is left out. */
export function renderTemplates(templates: Record<string, string>, values: Record<string, string>): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, template] of Object.entries(templates)) {
    let missing = false;
    const value = template.replace(/\{\{\s*([a-z_][a-z0-9_]*)\s*\}\}/g, (_, field: string) => {
      if (!values[field]) missing = true;
      return values[field] ?? '';
    });
    if (!missing) headers[name.toLowerCase()] = value;
  }
  return headers;
}
