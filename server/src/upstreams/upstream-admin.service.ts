import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { Repository } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { AllowListConfig, UpstreamConfig } from '../config/config.schema';
import { ConfigService } from '../config/config.service';
import { Actor } from '../identity/actor';
import { Transactions, Tx } from '../database/transactions';
import { VaultService } from '../vault/vault.service';
import { AuthModesService } from './auth-modes';
import { connectionFailure, ConnectionTestResult } from './connection-test/connection-test-result';
import { testConnection, testStdioConnection } from './connection-test/connection-tester';
import { credentialEnv } from './transports/process-env';
import { ProcessLauncher, ProcessStatus } from './transports/process-launcher';
import { SpawnedUpstreamsService } from './transports/spawned-upstreams.service';
import { StdioBridgeService } from './transports/stdio-bridge.service';
import { PRIVATE_NETWORK_HINT } from './connection-test/failure-stage';
import { AllowList, Upstream } from './upstream';
import { invalidUpstream, readOnly, slugTaken, upstreamNotFound } from './upstream-admin.errors';
import { UpstreamCheck } from './upstream-check.entity';
import { EDITABLE, inputOf, normalizedAllow, parseUpstreamInput, unknownAllowKeys, UpstreamInput } from './upstream-input';
import { UpstreamRecord } from './upstream-record.entity';
import { UpstreamProbeService } from './upstream-probe.service';
import { upstreamView, UpstreamView } from './upstream-view';
import { UpstreamsService } from './upstreams.service';
import { ENV_PURPOSE_PREFIX, envPurpose, upstreamOwner, usersOfUpstream, VaultPurpose } from '../vault/vault-addresses';
import { processSettingsFrom } from './transports/transport-config';

/**
 * The admin console's upstreams: list with status, create, edit, enable/disable, allow-lists and
 * delete for upstreams added in the console ("console" rows), and test connection for any.
 * Upstreams from config.yaml are read-only here (409 read_only): the file is their source of truth
 * and is re-read at every start, as Grafana treats provisioned dashboards.
 *
 * Every change is one transaction with its secrets (vault) and its audit row, then the registry
 * reloads and tells its listeners (the proxy), so the change takes effect at once.
 */
@Injectable()
export class UpstreamAdminService {
  private readonly toolsListed: Array<(slug: string, tools: Array<Record<string, unknown> & { name: string }>) => void> = [];

  constructor(
    @InjectRepository(UpstreamRecord) private readonly records: Repository<UpstreamRecord>,
    @InjectRepository(UpstreamCheck) private readonly checks: Repository<UpstreamCheck>,
    private readonly upstreams: UpstreamsService,
    private readonly authModes: AuthModesService,
    private readonly vault: VaultService,
    private readonly transactions: Transactions,
    private readonly audit: AuditService,
    private readonly config: ConfigService,
    private readonly probes: UpstreamProbeService,
    private readonly launcher: ProcessLauncher,
    private readonly stdio: StdioBridgeService,
    private readonly spawned: SpawnedUpstreamsService,
  ) {}

  /** Called with the full tool definitions a test connection listed (the tool catalogue records them). */
  onToolsListed(listener: (slug: string, tools: Array<Record<string, unknown> & { name: string }>) => void): void {
    this.toolsListed.push(listener);
  }

  /** The processes of a stdio or spawned upstream: state, restarts, last stderr lines (admins only). */
  processes(slug: string): ProcessStatus | null {
    const upstream = this.require(slug);
    if (upstream.transport === 'stdio') return this.stdio.status(upstream);
    if (upstream.transport === 'spawn') return this.spawned.status(upstream);
    return null;
  }

  /** Test connection by transport: the URL, a spawned child's loopback address, or the command run once. */
  private async testByTransport(
    upstream: Upstream,
    headers: Record<string, string>,
    onTools?: (tools: Array<Record<string, unknown> & { name: string }>) => void,
  ): Promise<ConnectionTestResult> {
    if (upstream.transport === 'stdio') {
      const perSession = upstream.process!.instances === 'per_session';
      const spec = await this.launcher.specFor(upstream, 'mcp', perSession ? credentialEnv(headers) : {});
      return testStdioConnection(spec, upstream.timeoutMs, onTools);
    }
    if (upstream.transport === 'spawn') {
      const target = this.spawned.targetOf(upstream);
      if (!target) return connectionFailure('connect', 'its process is not running (see the process state)');
      return testConnection({ ...upstream, url: target, guarded: false }, headers, onTools);
    }
    return testConnection(upstream, headers, onTools);
  }

  /** The console's form of every auth mode (GET /admin/api/upstreams/auth-modes). */
  authModeForms() {
    return this.authModes.forms();
  }

  /** Every upstream, enabled or not, in slug order. */
  async list(): Promise<UpstreamView[]> {
    const checks = new Map((await this.checks.find()).map((c) => [c.slug, c]));
    return this.upstreams.all().map((u) => this.view(u, checks.get(u.slug) ?? null));
  }

  async get(slug: string): Promise<UpstreamView> {
    const upstream = this.require(slug);
    return this.view(upstream, await this.checks.findOneBy({ slug }));
  }

  async create(input: UpstreamInput, actor: Actor): Promise<UpstreamView> {
    const config = this.parse(input, new Map());
    const slug = config.slug;
    if (this.upstreams.find(slug)) throw slugTaken(slug);
    const now = Date.now();
    await this.transactions.run(async (tx) => {
      // The row is the arbiter: of two concurrent creates of one slug, the second finds the first's.
      if ((await tx.find(this.records, { slug }, ['slug'])).length) throw slugTaken(slug);
      await tx.insert(this.records, { ...this.rowOf(config), source: 'console', createdAt: now, updatedAt: now });
      // Nothing of an earlier upstream of this slug (a user's credential, an old status) carries over.
      await this.vault.deleteOwnersIn(tx, usersOfUpstream(slug), { userId: actor.userId });
      await tx.delete(this.checks, { slug });
      await this.writeSecretsIn(tx, slug, config, new Map(), actor);
      await this.audit.recordIn(tx, {
        type: 'admin.upstream.create',
        outcome: 'success',
        userId: actor.userId,
        ip: actor.ip,
        upstreamSlug: slug,
        detail: {
          slug,
          name: config.name ?? slug,
          url: config.url,
          auth_mode: config.auth.mode,
          enabled: config.enabled,
          tool_arguments: config.audit.tool_arguments,
          // What runs is part of the record of who defined it (env values never: names only).
          ...(config.transport !== 'http' && { transport: config.transport, command: config.command, args: config.args ?? [], env: Object.keys(config.env ?? {}) }),
        },
      });
    });
    await this.upstreams.changed(slug);
    return this.get(slug);
  }

  /** PATCH: the fields given replace the current ones; `auth` replaces the whole auth block, where a blank or omitted secret keeps the stored one. */
  async update(slug: string, patch: UpstreamInput, actor: Actor): Promise<UpstreamView> {
    const upstream = this.editable(slug);
    if (patch.slug !== undefined && patch.slug !== slug) throw invalidUpstream({ slug: 'cannot be changed (add a new upstream instead)' });
    const stored = await this.storedSecrets(slug);
    const current = inputOf(upstream, this.authModes.formValues(upstream));
    // A new transport starts from none of the old one's fields (an HTTP upstream has no command, a stdio one no URL).
    if (patch.transport !== undefined && patch.transport !== upstream.transport) {
      for (const key of ['url', 'command', 'args', 'env', 'cwd', 'instances', 'idleTimeoutSeconds', 'maxProcesses', 'port', 'path'] as const) delete current[key];
    }
    const defined = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)) as UpstreamInput;
    const config = this.parse({ ...current, ...defined, slug }, stored);
    const after = inputOf(this.upstreamOf(config, upstream), {});
    const authBefore = JSON.stringify([upstream.authMode, (await this.records.findOneBy({ slug }))?.authSettings]);
    await this.transactions.run(async (tx) => {
      const row = this.rowOf(config);
      if (!(await tx.update(this.records, { slug, source: 'console' }, { ...row, updatedAt: Date.now() }))) throw upstreamNotFound(slug);
      const secretsChanged = await this.writeSecretsIn(tx, slug, config, stored, actor);
      const authChanged = secretsChanged || JSON.stringify([row.authMode, row.authSettings]) !== authBefore;
      // Field names only: what changed, never to what (auth may hold secrets).
      const changed = EDITABLE.filter((key) => (key === 'auth' ? authChanged : JSON.stringify(current[key]) !== JSON.stringify(after[key])));
      const who = { outcome: 'success' as const, userId: actor.userId, ip: actor.ip, upstreamSlug: slug };
      // The audit setting is no secret, and turning values on is worth seeing in the log itself.
      const auditSetting = changed.includes('audit') ? { tool_arguments: config.audit.tool_arguments } : {};
      await this.audit.recordIn(tx, { type: 'admin.upstream.update', ...who, detail: { slug, changed, auth_mode: config.auth.mode, ...auditSetting } });
      if (changed.includes('enabled')) await this.audit.recordIn(tx, { type: config.enabled ? 'admin.upstream.enable' : 'admin.upstream.disable', ...who, detail: { slug } });
    });
    await this.upstreams.changed(slug);
    return this.get(slug);
  }

  async setEnabled(slug: string, enabled: boolean, actor: Actor): Promise<UpstreamView> {
    this.editable(slug);
    await this.transactions.run(async (tx) => {
      if (!(await tx.update(this.records, { slug, source: 'console' }, { enabled, updatedAt: Date.now() }))) throw upstreamNotFound(slug);
      await this.audit.recordIn(tx, {
        type: enabled ? 'admin.upstream.enable' : 'admin.upstream.disable',
        outcome: 'success',
        userId: actor.userId,
        ip: actor.ip,
        upstreamSlug: slug,
        detail: { slug },
      });
    });
    await this.upstreams.changed(slug);
    return this.get(slug);
  }

  /** Replaces the allow-list (users, emails, email domains, groups); empty lists = every gateway user. */
  async setAllow(slug: string, allow: Partial<AllowList>, actor: Actor): Promise<UpstreamView> {
    this.editable(slug);
    const unknown = unknownAllowKeys(allow);
    if (Object.keys(unknown).length) throw invalidUpstream(unknown);
    const parsed = plainToInstance(
      AllowListConfig,
      { users: allow.users, emails: allow.emails, email_domains: allow.emailDomains, groups: allow.groups },
      { exposeDefaultValues: true },
    );
    const errors = validateSync(parsed, { whitelist: true, forbidNonWhitelisted: true });
    if (errors.length)
      throw invalidUpstream(Object.fromEntries(errors.map((e) => [`allow.${e.property === 'email_domains' ? 'emailDomains' : e.property}`, 'must be a list of strings'])));
    const n = normalizedAllow(parsed);
    const allowList: AllowList = { users: n.users, emails: n.emails, emailDomains: n.email_domains, groups: n.groups };
    await this.transactions.run(async (tx) => {
      if (!(await tx.update(this.records, { slug, source: 'console' }, { allowList, updatedAt: Date.now() }))) throw upstreamNotFound(slug);
      await this.audit.recordIn(tx, {
        type: 'admin.upstream.allow',
        outcome: 'success',
        userId: actor.userId,
        ip: actor.ip,
        upstreamSlug: slug,
        detail: { slug, allow: allowList },
      });
    });
    await this.upstreams.changed(slug);
    return this.get(slug);
  }

  /**
   * Deletes a console upstream with everything kept for it: its secrets, every user's credentials
   * and upstream tokens for it, its status. (Its grants are the OAuth module's: the caller revokes
   * them with GrantsService.revokeAllFor.) An upstream left over from an earlier config.yaml
   * (disabled since the file dropped it) may be deleted too; one the file still lists may not.
   */
  async delete(slug: string, actor: Actor): Promise<void> {
    const upstream = this.assertDeletable(slug);
    const by = { userId: actor.userId };
    await this.transactions.run(async (tx) => {
      if (!(await tx.delete(this.records, { slug }))) throw upstreamNotFound(slug);
      await tx.delete(this.checks, { slug });
      await this.vault.deleteIn(tx, upstreamOwner(slug), undefined, by);
      await this.vault.deleteOwnersIn(tx, usersOfUpstream(slug), by);
      await this.audit.recordIn(tx, {
        type: 'admin.upstream.delete',
        outcome: 'success',
        userId: actor.userId,
        ip: actor.ip,
        upstreamSlug: slug,
        detail: { slug, name: upstream.name, source: upstream.source },
      });
    });
    await this.upstreams.changed(slug);
  }

  /** The upstream, when delete() may remove it: 404 when there is none, 409 read_only when config.yaml lists it. */
  assertDeletable(slug: string): Upstream {
    const upstream = this.require(slug);
    if (upstream.source === 'config' && this.upstreams.inConfigFile(slug)) throw readOnly(this.readOnlyMessage(slug));
    return upstream;
  }

  /**
   * Test connection: initialize + tools/list against the upstream with the credential its mode
   * sends for this admin (for per-user modes, the admin's own). The result is kept as the
   * upstream's status and audited.
   */
  async test(slug: string, actor: Actor): Promise<ConnectionTestResult> {
    const upstream = this.require(slug);
    const credential = await this.adminCredential(upstream, actor.userId);
    const result = 'headers' in credential ? await this.testByTransport(upstream, credential.headers, (tools) => this.toolsListed.forEach((l) => l(slug, tools))) : credential;
    await this.transactions.run(async (tx) => {
      // Deleted while the test ran: no status row for an upstream that is gone.
      if (!(await tx.find(this.records, { slug }, ['slug'])).length) return;
      await tx.upsert(this.checks, { slug, checkedAt: Date.now(), result }, ['checked_at', 'result'], ['slug']);
      await this.audit.recordIn(tx, {
        type: 'admin.upstream.test',
        outcome: result.ok ? 'success' : 'failure',
        userId: actor.userId,
        ip: actor.ip,
        upstreamSlug: slug,
        detail: result.ok ? { slug, tools: result.tools.length } : { slug, stage: result.stage },
      });
    });
    return result;
  }

  private async adminCredential(upstream: Upstream, userId: string): Promise<{ headers: Record<string, string> } | ConnectionTestResult> {
    try {
      const credential = await this.authModes.for(upstream).headersFor(upstream, userId);
      if ('headers' in credential) return credential;
      return connectionFailure('auth', `enter your own credentials for this upstream on My access first (${credential.reauthorize})`);
    } catch (err) {
      return connectionFailure('auth', `the credential for this upstream is unavailable: ${(err as Error).message}`);
    }
  }

  private view(u: Upstream, check: UpstreamCheck | null): UpstreamView {
    const settings = this.authModes.for(u).formValues(u);
    return upstreamView(u, { summary: this.authModes.describe(u), settings }, this.readOnlyReason(u), check, this.probes.probeState(u.slug) ?? null);
  }

  private readOnlyReason(u: Upstream): string | null {
    if (u.source !== 'config') return null;
    if (!this.upstreams.inConfigFile(u.slug)) return 'removed from config.yaml, and so disabled: it can be deleted here, not edited';
    return this.readOnlyMessage(u.slug);
  }

  private readOnlyMessage(slug: string): string {
    const file = this.config.source === 'embedded default' ? 'the embedded default configuration' : `config.yaml (${this.config.source})`;
    return `upstream "${slug}" is managed by ${file}; edit the file and restart the gateway to change it`;
  }

  private require(slug: string): Upstream {
    const upstream = this.upstreams.find(slug);
    if (!upstream) throw upstreamNotFound(slug);
    return upstream;
  }

  /** The upstream, when the console may change it: 404 when there is none, 409 read_only when config.yaml defines it. */
  private editable(slug: string): Upstream {
    const upstream = this.require(slug);
    if (upstream.source === 'config') throw readOnly(this.readOnlyReason(upstream)!);
    return upstream;
  }

  private parse(input: UpstreamInput, stored: ReadonlyMap<VaultPurpose, string>): UpstreamConfig {
    return parseUpstreamInput(input, {
      storedEnv: (name) => stored.get(envPurpose(name)) ?? null,
      keepStoredSecrets: (auth) => this.authModes.keepStoredSecrets(auth, stored),
      urlFieldsOf: (mode) =>
        this.authModes
          .forms()
          .find((f) => f.mode === mode)
          ?.fields.filter((f) => f.type === 'url') ?? [],
      guarded: !this.config.upstreamsPolicy.allow_private_networks,
      privateNetworkHint: PRIVATE_NETWORK_HINT,
    });
  }

  private rowOf(config: UpstreamConfig) {
    const allow = config.allow;
    return {
      slug: config.slug,
      name: config.name ?? config.slug,
      url: config.transport === 'http' ? config.url : '',
      transport: config.transport,
      transportSettings: processSettingsFrom(config),
      enabled: config.enabled,
      timeoutMs: config.timeout * 1000,
      scopes: config.scopes,
      authMode: config.auth.mode,
      authSettings: this.authModes.settingsFrom(config.auth),
      allowList: { users: allow.users, emails: allow.emails, emailDomains: allow.email_domains, groups: allow.groups },
      toolArguments: config.audit.tool_arguments,
    };
  }

  /** The upstream a parsed config describes (for comparing an edit with what was). */
  private upstreamOf(config: UpstreamConfig, was: Upstream): Upstream {
    const row = this.rowOf(config);
    return { ...was, ...row, process: row.transportSettings, allow: row.allowList };
  }

  /** The upstream's secrets that the auth modes manage (purpose → value), for keeping blanks and writing only what changed. */
  private async storedSecrets(slug: string): Promise<Map<VaultPurpose, string>> {
    const owner = upstreamOwner(slug);
    const stored = new Map<VaultPurpose, string>();
    for (const purpose of await this.vault.list(owner)) {
      if (!this.authModes.managesSecret(purpose) && !purpose.startsWith(ENV_PURPOSE_PREFIX)) continue;
      const value = await this.vault.get(owner, purpose);
      if (value !== null) stored.set(purpose, value);
    }
    return stored;
  }

  /** Writes the secrets the config asks for (only those that changed) and removes the modes' others; true when any changed. */
  private async writeSecretsIn(tx: Tx, slug: string, config: UpstreamConfig, stored: ReadonlyMap<VaultPurpose, string>, actor: Actor): Promise<boolean> {
    const owner = upstreamOwner(slug);
    const wanted: Map<VaultPurpose, string> = new Map([
      ...this.authModes.secretsFrom(config.auth),
      ...Object.entries(config.env ?? {}).map(([name, value]) => [envPurpose(name), value] as const),
    ]);
    let changed = false;
    for (const [purpose, value] of wanted) {
      if (stored.get(purpose) === value) continue;
      await this.vault.putIn(tx, owner, purpose, value, { userId: actor.userId });
      changed = true;
    }
    for (const purpose of stored.keys()) {
      if (wanted.has(purpose)) continue;
      await this.vault.deleteIn(tx, owner, purpose, { userId: actor.userId });
      changed = true;
    }
    return changed;
  }
}
