import { Injectable, Logger, OnModuleInit, OnModuleDestroy } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { UpstreamConfig } from '../config/config.schema';
import { ConfigService } from '../config/config.service';
import { withoutTrailingSlashes } from '../common/trailing-slashes';
import { ChangeFeed } from '../database/change-feed';
import { FreshReads } from '../database/fresh-reads';
import { Transactions } from '../database/transactions';
import { VaultService } from '../vault/vault.service';
import { AuthModesService } from './auth-modes';
import { Upstream } from './upstream';
import { UpstreamRecord } from './upstream-record.entity';
import { ENV_PURPOSE_PREFIX, envPurpose, upstreamOwner, VaultPurpose } from '../vault/vault-addresses';
import { processSettingsFrom } from './transports/transport-config';
import { bundleUpstream } from '../bundle/bundle-resource';

/**
 * The upstream registry: rows in SQLite, seeded from config.yaml at every start,
 * served from memory (the proxy asks on every request). Secrets go to the vault.
 */
@Injectable()
export class UpstreamsService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('Upstreams');
  private bySlug = new Map<string, Upstream>();
  private readonly listeners: Array<(slug: string) => void> = [];
  private bundleTarget: Upstream | undefined;
  private namedBundles: Parameters<UpstreamsService['useNamedBundles']>[0] | undefined;
  private safetyReload: NodeJS.Timeout | null = null;
  /** Keeps a reload started by another replica from putting back rows older than a change made here. */
  private readonly fresh = new FreshReads();

  constructor(
    @InjectRepository(UpstreamRecord) private readonly records: Repository<UpstreamRecord>,
    private readonly vault: VaultService,
    private readonly config: ConfigService,
    private readonly authModes: AuthModesService,
    private readonly transactions: Transactions,
    private readonly audit: AuditService,
    private readonly feed: ChangeFeed,
  ) {}

  async onModuleInit(): Promise<void> {
    if (this.config.seedsFromConfig) await this.seedFromConfig(this.config.upstreams);
    await this.reload();
    // Edited on another replica: read the registry again (not re-published).
    this.feed.on('upstream.changed', (slug) => void this.reloadQuietly(slug));
    this.feed.onResync(() => void this.reloadQuietly());
    if (this.feed.shared) {
      // The net under a missed notification: the registry is a small table.
      this.safetyReload = setInterval(() => void this.reloadQuietly(), ChangeFeed.SAFETY_TTL_MS);
      this.safetyReload.unref();
    }
  }

  onModuleDestroy(): void {
    if (this.safetyReload) clearInterval(this.safetyReload);
  }

  private async reloadQuietly(slug?: string): Promise<void> {
    try {
      await this.reload(slug, false);
    } catch (err) {
      this.logger.error(`could not reload the upstream registry: ${(err as Error).message}`);
    }
  }

  /** Called with a slug whenever that upstream's settings or secrets change. */
  onChange(listener: (slug: string) => void): void {
    this.listeners.push(listener);
  }

  /** Enabled upstreams only. */
  list(): Upstream[] {
    return [...this.bySlug.values()].filter((u) => u.enabled);
  }

  get(slug: string): Upstream | undefined {
    const u = this.bySlug.get(slug);
    return u?.enabled ? u : undefined;
  }

  /**
   * The upstream a RFC 8707 resource indicator names (trailing slash tolerated), or the bundle
   * (`<PUBLIC_URL>/mcp`, bundle/bundle-resource.ts), which /authorize and /token grant like one.
   */
  byResource(resource: string): Upstream | undefined {
    const normalized = withoutTrailingSlashes(resource);
    if (normalized === this.bundle.resource) return this.bundle;
    return this.list().find((u) => u.resource === normalized) ?? this.namedBundles?.byResource(normalized);
  }

  /** What a grant's slug names: an upstream (enabled), the bundle, or a named bundle. */
  target(slug: string): Upstream | undefined {
    if (slug === this.bundle.slug) return this.bundle;
    return this.get(slug) ?? this.namedBundles?.bySlug(slug);
  }

  /** The named bundles (bundle/bundles.service.ts), which /authorize and /token grant like upstreams. */
  useNamedBundles(directory: { byResource(resource: string): Upstream | undefined; bySlug(slug: string): Upstream | undefined }): void {
    this.namedBundles = directory;
  }

  /** The bundle (`/mcp`) as an authorization target: never in list() or get(), which are the real upstreams. */
  get bundle(): Upstream {
    return (this.bundleTarget ??= bundleUpstream(this.config.publicUrl, this.authModes.settingsOf({})));
  }

  allScopes(): string[] {
    return [...new Set(this.list().flatMap((u) => u.scopes))];
  }

  /** Every upstream, enabled or not, in slug order: for the admin console. */
  all(): Upstream[] {
    return [...this.bySlug.values()].sort((a, b) => (a.slug < b.slug ? -1 : a.slug > b.slug ? 1 : 0));
  }

  /** An upstream whether enabled or not. */
  find(slug: string): Upstream | undefined {
    return this.bySlug.get(slug);
  }

  /** The registry changed outside this service (the console's edits): reload it, and tell the change listeners. */
  async changed(slug: string): Promise<void> {
    await this.reload(slug);
  }

  /** Whether config.yaml, as loaded at this start, lists the slug (else a "config" row is left over from an earlier file). */
  inConfigFile(slug: string): boolean {
    return this.config.upstreams.some((u) => u.slug === slug);
  }

  /** Replaces an upstream's allow-list (admin action); takes effect at the proxy at once. */
  async setAllowList(slug: string, allow: Upstream['allow']): Promise<void> {
    await this.transactions.run(async (tx) => {
      if (await tx.update(this.records, { slug }, { allowList: allow, updatedAt: Date.now() })) {
        await this.audit.recordIn(tx, { type: 'upstream.allow_list', outcome: 'success', upstreamSlug: slug, detail: { allow } });
      }
    });
    await this.reload(slug);
  }

  async setEnabled(slug: string, enabled: boolean): Promise<void> {
    await this.transactions.run(async (tx) => {
      if (await tx.update(this.records, { slug }, { enabled, updatedAt: Date.now() })) {
        await this.audit.recordIn(tx, { type: enabled ? 'upstream.enable' : 'upstream.disable', outcome: 'success', upstreamSlug: slug });
      }
    });
    await this.reload(slug);
  }

  /** Every upstream (enabled or not) whose allow-list names the group, with where its settings come from. */
  async groupReferences(name: string): Promise<Array<{ slug: string; source: UpstreamRecord['source'] }>> {
    const rows = await this.records.find();
    return rows.filter((r) => r.allowList.groups.includes(name)).map((r) => ({ slug: r.slug, source: r.source }));
  }

  /**
   * Allow-lists name groups, so a renamed group keeps its access only if they follow: every
   * allow-list naming `from` names `to` instead, at the proxy at once. Returns the upstreams
   * changed. (config.yaml is not rewritten: its upstreams are re-seeded at the next start.)
   */
  async renameGroupInAllowLists(from: string, to: string): Promise<Array<{ slug: string; source: UpstreamRecord['source'] }>> {
    const changed: Array<{ slug: string; source: UpstreamRecord['source'] }> = [];
    for (const r of await this.records.find()) {
      if (!r.allowList.groups.includes(from)) continue;
      const groups = [...new Set(r.allowList.groups.map((g) => (g === from ? to : g)))];
      await this.records.update({ slug: r.slug }, { allowList: { ...r.allowList, groups }, updatedAt: Date.now() });
      changed.push({ slug: r.slug, source: r.source });
    }
    for (const { slug } of changed) await this.reload(slug);
    return changed;
  }

  /** Reads the registry again; `publish` when the change was made here (then it is news for the other replicas). */
  private async reload(changed?: string, publish = true): Promise<void> {
    if (changed && publish) this.fresh.changed();
    await this.fresh.reload(
      () => this.records.find(),
      (rows) => void (this.bySlug = new Map(rows.map((r) => [r.slug, this.toUpstream(r)]))),
    );
    if (changed && publish) this.feed.publish('upstream.changed', changed);
    for (const slug of changed ? [changed] : [...this.bySlug.keys()]) {
      this.authModes.forgetUpstream(slug);
      this.listeners.forEach((l) => l(slug));
    }
  }

  private async seedFromConfig(upstreams: UpstreamConfig[]): Promise<void> {
    const now = Date.now();
    const existing = new Map((await this.records.find()).map((r) => [r.slug, r]));
    for (const u of upstreams) {
      const row = {
        slug: u.slug,
        name: u.name ?? u.slug,
        url: u.transport === 'http' ? u.url : '',
        transport: u.transport,
        transportSettings: processSettingsFrom(u),
        enabled: u.enabled,
        timeoutMs: u.timeout * 1000,
        scopes: u.scopes,
        authMode: u.auth.mode,
        authSettings: this.authModes.settingsFrom(u.auth),
        allowList: {
          // Entries may be user ids or emails; emails compare lower-cased.
          users: u.allow.users.map((x) => (x.includes('@') ? x.toLowerCase() : x)),
          emails: u.allow.emails.map((e) => e.toLowerCase()),
          emailDomains: u.allow.email_domains.map((d) => d.toLowerCase().replace(/^@/, '')),
          groups: u.allow.groups,
        },
        toolArguments: u.audit.tool_arguments,
        source: 'config' as const,
        updatedAt: now,
      };
      if (existing.get(u.slug)?.source === 'console') {
        this.logger.warn(`upstream ${u.slug} was added in the console; config.yaml now defines it, so the file's settings replace the console's`);
      }
      if (existing.has(u.slug)) await this.records.update({ slug: u.slug }, row);
      else await this.records.insert({ ...row, createdAt: now });
      await this.seedSecrets(u);
      existing.delete(u.slug);
    }
    // Upstreams removed from config.yaml are disabled, not deleted: users' stored credentials survive a typo.
    for (const row of existing.values()) {
      if (row.source === 'config' && row.enabled) await this.records.update({ slug: row.slug }, { enabled: false, updatedAt: now });
    }
  }

  /** Writes the config's secrets to the vault, only where they changed (each write is audited). */
  private async seedSecrets(u: UpstreamConfig): Promise<void> {
    const owner = upstreamOwner(u.slug);
    const wanted: Map<VaultPurpose, string> = new Map([
      ...this.authModes.secretsFrom(u.auth),
      ...Object.entries(u.env ?? {}).map(([name, value]) => [envPurpose(name), value] as const),
    ]);
    for (const [purpose, value] of wanted) {
      if ((await this.vault.get(owner, purpose)) !== value) await this.vault.put(owner, purpose, value);
    }
    for (const purpose of await this.vault.list(owner)) {
      if ((this.authModes.managesSecret(purpose) || purpose.startsWith(ENV_PURPOSE_PREFIX)) && !wanted.has(purpose)) await this.vault.delete(owner, purpose);
    }
  }

  private toUpstream(r: UpstreamRecord): Upstream {
    return {
      slug: r.slug,
      name: r.name,
      url: r.url,
      transport: r.transport ?? 'http',
      process: r.transportSettings ?? null,
      enabled: r.enabled,
      timeoutMs: r.timeoutMs,
      scopes: r.scopes,
      authMode: r.authMode as Upstream['authMode'],
      ...this.authModes.settingsOf(r.authSettings),
      allow: r.allowList,
      toolArguments: r.toolArguments,
      resource: this.config.resourceUrl(r.slug),
      source: r.source,
      // Only URLs typed in the console are guarded: a spawned upstream is on loopback by design (its
      // child was started by the gateway from an admin's command, see transports/).
      guarded: r.source !== 'config' && (r.transport ?? 'http') === 'http' && !this.config.upstreamsPolicy.allow_private_networks,
    };
  }
}
