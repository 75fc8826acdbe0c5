import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { plainToInstance } from 'class-transformer';
import { validateSync, ValidationError } from 'class-validator';
import { Repository } from 'typeorm';
import { AuditService } from '../../audit/audit.service';
import { conflict, invalidFields, notFound } from '../../common/api-errors';
import { ConfigService } from '../../config/config.service';
import { Transactions } from '../../database/transactions';
import { readOnly } from '../../upstreams/upstream-admin.errors';
import { identityProviderOwner, OIDC_CLIENT_SECRET_PURPOSE } from '../../vault/vault-addresses';
import { VaultService } from '../../vault/vault.service';
import { Actor } from '../actor';
import { FederatedIdentity } from './federated-identity.entity';
import { IdentityProviderConfig, NewUserPolicy } from './identity-provider.config';
import { IdentityProviderRecord } from './identity-provider-record.entity';

/** A provider as the sign-in code uses it, wherever it was configured; its client secret is fetched apart (clientSecret()). */
export interface IdentityProvider extends Omit<IdentityProviderConfig, 'client_secret'> {
  /** config: from config.yaml, read-only in the console; console: added there, its secret in the vault. */
  source: 'config' | 'console';
  /** Changes whenever the provider's settings do: a built strategy of an older version is rebuilt. */
  version: string;
}

/** What an admin sends to add or change a provider (the console's field names); a missing clientSecret on change keeps the stored one. */
export interface IdentityProviderInput {
  id?: string;
  name?: string;
  issuer?: string;
  clientId?: string;
  clientSecret?: string;
  scopes?: string[];
  groupsClaim?: string;
  newUsers?: NewUserPolicy;
  allowedEmailDomains?: string[];
}

/** Console field name → config.yaml key, for validating both with IdentityProviderConfig's rules. */
const FIELDS: Record<keyof IdentityProviderInput, keyof IdentityProviderConfig> = {
  id: 'id',
  name: 'name',
  issuer: 'issuer',
  clientId: 'client_id',
  clientSecret: 'client_secret',
  scopes: 'scopes',
  groupsClaim: 'groups_claim',
  newUsers: 'new_users',
  allowedEmailDomains: 'allowed_email_domains',
};

/**
 * The OpenID Connect providers: those of config.yaml (identity_providers) and those admins add in the
 * console (a row each, the client secret in the vault). An id in config.yaml takes over a console
 * provider of the same id, as upstream slugs do.
 */
@Injectable()
export class IdentityProvidersService {
  constructor(
    @InjectRepository(IdentityProviderRecord) private readonly records: Repository<IdentityProviderRecord>,
    @InjectRepository(FederatedIdentity) private readonly identities: Repository<FederatedIdentity>,
    private readonly config: ConfigService,
    private readonly vault: VaultService,
    private readonly transactions: Transactions,
    private readonly audit: AuditService,
  ) {}

  async all(): Promise<IdentityProvider[]> {
    const fromConfig = this.config.identityProviders.map(fromConfigEntry);
    const taken = new Set(fromConfig.map((p) => p.id));
    const rows = await this.records.find({ order: { name: 'ASC' } });
    return [...fromConfig, ...rows.filter((r) => !taken.has(r.id)).map(fromRecord)];
  }

  async find(id: unknown): Promise<IdentityProvider | undefined> {
    if (typeof id !== 'string') return undefined;
    const configured = this.config.identityProviders.find((p) => p.id === id);
    if (configured) return fromConfigEntry(configured);
    const row = await this.records.findOneBy({ id });
    return row ? fromRecord(row) : undefined;
  }

  /** The gateway's client secret at the provider: from config.yaml, or from the vault for a console provider. */
  async clientSecret(provider: IdentityProvider): Promise<string | null> {
    if (provider.source === 'config') return this.config.identityProviders.find((p) => p.id === provider.id)?.client_secret ?? null;
    return this.vault.get(identityProviderOwner(provider.id), OIDC_CLIENT_SECRET_PURPOSE);
  }

  /** Whether a client secret is set, without decrypting it (for the console). */
  async hasClientSecret(provider: IdentityProvider): Promise<boolean> {
    if (provider.source === 'config') return !!(await this.clientSecret(provider));
    return (await this.vault.list(identityProviderOwner(provider.id))).includes(OIDC_CLIENT_SECRET_PURPOSE);
  }

  /** May a console provider's URLs lead to private addresses? The switch of console upstreams (upstreams_policy), off by default. */
  get consoleProvidersMayUsePrivateNetworks(): boolean {
    return this.config.upstreamsPolicy.allow_private_networks;
  }

  async create(input: IdentityProviderInput, actor: Actor): Promise<IdentityProvider> {
    const settings = validated({ ...input });
    if (this.config.identityProviders.some((p) => p.id === settings.id) || (await this.records.existsBy({ id: settings.id }))) {
      throw conflict(`an identity provider with the id "${settings.id}" already exists`);
    }
    const now = Date.now();
    const row = this.records.create({ ...toRecord(settings), createdAt: now, updatedAt: now });
    await this.transactions.run(async (tx) => {
      await tx.insert(this.records, row);
      await this.vault.putIn(tx, identityProviderOwner(row.id), OIDC_CLIENT_SECRET_PURPOSE, settings.client_secret, { userId: actor.userId });
      await this.audit.recordIn(tx, {
        type: 'admin.identity_provider.create',
        outcome: 'success',
        userId: actor.userId,
        ip: actor.ip,
        detail: { provider: row.id, issuer: row.issuer },
      });
    });
    return fromRecord(row);
  }

  async update(id: string, input: IdentityProviderInput, actor: Actor): Promise<IdentityProvider> {
    const row = await this.requireConsole(id);
    const current = fromRecord(row);
    const stored = (await this.clientSecret(current)) ?? '';
    const merged: IdentityProviderInput = {
      id,
      name: input.name ?? current.name,
      issuer: input.issuer ?? current.issuer,
      clientId: input.clientId ?? current.client_id,
      clientSecret: input.clientSecret || stored,
      scopes: input.scopes ?? current.scopes,
      groupsClaim: input.groupsClaim ?? current.groups_claim,
      newUsers: input.newUsers ?? current.new_users,
      allowedEmailDomains: input.allowedEmailDomains ?? current.allowed_email_domains,
    };
    const settings = validated(merged);
    const updated = { ...toRecord(settings), createdAt: row.createdAt, updatedAt: Math.max(Date.now(), row.updatedAt + 1) };
    await this.transactions.run(async (tx) => {
      await tx.update(this.records, { id }, updated);
      if (input.clientSecret) await this.vault.putIn(tx, identityProviderOwner(id), OIDC_CLIENT_SECRET_PURPOSE, input.clientSecret, { userId: actor.userId });
      await this.audit.recordIn(tx, {
        type: 'admin.identity_provider.update',
        outcome: 'success',
        userId: actor.userId,
        ip: actor.ip,
        detail: { provider: id, secret_changed: !!input.clientSecret },
      });
    });
    return fromRecord({ ...row, ...updated });
  }

  /** Deletes a console provider, its secret and the links of users to it (their gateway accounts stay). */
  async delete(id: string, actor: Actor): Promise<void> {
    await this.requireConsole(id);
    await this.transactions.run(async (tx) => {
      await tx.delete(this.records, { id });
      await tx.delete(this.identities, { provider: id });
      await this.vault.deleteIn(tx, identityProviderOwner(id), undefined, { userId: actor.userId });
      await this.audit.recordIn(tx, { type: 'admin.identity_provider.delete', outcome: 'success', userId: actor.userId, ip: actor.ip, detail: { provider: id } });
    });
  }

  private async requireConsole(id: string): Promise<IdentityProviderRecord> {
    if (this.config.identityProviders.some((p) => p.id === id)) throw readOnly(`the identity provider "${id}" is managed by the config file; change it there`);
    const row = await this.records.findOneBy({ id });
    if (!row) throw notFound('no such identity provider');
    return row;
  }
}

function fromConfigEntry(p: IdentityProviderConfig): IdentityProvider {
  const { client_secret: _secret, ...settings } = p;
  return { ...settings, source: 'config', version: 'config' };
}

function fromRecord(r: IdentityProviderRecord): IdentityProvider {
  return {
    id: r.id,
    name: r.name,
    issuer: r.issuer,
    client_id: r.clientId,
    scopes: r.scopes,
    groups_claim: r.groupsClaim,
    new_users: r.newUsers as NewUserPolicy,
    allowed_email_domains: r.allowedEmailDomains,
    source: 'console',
    version: String(r.updatedAt),
  };
}

function toRecord(s: IdentityProviderConfig): Omit<IdentityProviderRecord, 'createdAt' | 'updatedAt'> {
  return {
    id: s.id,
    name: s.name,
    issuer: s.issuer,
    clientId: s.client_id,
    scopes: s.scopes,
    groupsClaim: s.groups_claim,
    newUsers: s.new_users,
    allowedEmailDomains: s.allowed_email_domains.map((d) => d.toLowerCase()),
  };
}

/** The console's input checked by the rules of config.yaml's identity_providers (400 naming each bad field, in the console's names). */
function validated(input: IdentityProviderInput): IdentityProviderConfig {
  const raw: Record<string, unknown> = {};
  for (const [field, key] of Object.entries(FIELDS)) {
    const value = input[field as keyof IdentityProviderInput];
    if (value !== undefined) raw[key] = value;
  }
  const settings = plainToInstance(IdentityProviderConfig, raw, { exposeDefaultValues: true });
  const errors = validateSync(settings);
  if (errors.length) {
    const byKey = Object.fromEntries(Object.entries(FIELDS).map(([field, key]) => [key, field]));
    const fields: Record<string, string> = {};
    for (const e of errors) fields[byKey[e.property] ?? e.property] = firstProblem(e);
    throw invalidFields(fields);
  }
  return settings;
}

function firstProblem(e: ValidationError): string {
  const message = Object.values(e.constraints ?? {})[0] ?? 'is invalid';
  return message.replace(new RegExp(`^${e.property} `), '');
}
