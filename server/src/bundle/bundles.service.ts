import { Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { conflict, invalidFields, notFound } from '../common/api-errors';
import { withoutTrailingSlashes } from '../common/trailing-slashes';
import { ConfigService } from '../config/config.service';
import { ChangeFeed } from '../database/change-feed';
import { FreshReads } from '../database/fresh-reads';
import { Transactions } from '../database/transactions';
import { Actor } from '../identity/actor';
import { GrantsService } from '../oauth/grants/grants.service';
import { AuthModesService } from '../upstreams/auth-modes';
import { Upstream } from '../upstreams/upstream';
import { UpstreamsService } from '../upstreams/upstreams.service';
import { BundleRecord } from './bundle-record.entity';
import { BUNDLE_MEMBERS, BUNDLE_NAME_RULE, bundleSlug, bundleUpstream } from './bundle-resource';

/** A named bundle as the admin API shows it. */
export interface BundleView {
  name: string;
  mcpUrl: string;
  upstreams: Array<{ slug: string; name: string | null }>;
  createdAt: number;
  updatedAt: number;
}

/** Plenty for a connector; a model handles only so many tools anyway. */
const MAX_MEMBERS = 50;

/**
 * Named bundles (`/mcp/b/{name}`): an admin picks the upstreams, each user gets those of them their
 * allow-lists admit. Rows in SQLite, served from memory; each change is one transaction with its
 * audit row. The authorization server finds them through UpstreamsService.useNamedBundles.
 */
@Injectable()
export class BundlesService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('Bundles');
  private safetyReload: NodeJS.Timeout | null = null;
  /** Keeps a reload started by another replica from putting back rows older than a change made here. */
  private readonly fresh = new FreshReads();
  private byName = new Map<string, { record: BundleRecord; target: Upstream }>();
  private readonly listeners: Array<(name: string) => void> = [];

  constructor(
    @InjectRepository(BundleRecord) private readonly records: Repository<BundleRecord>,
    private readonly upstreams: UpstreamsService,
    private readonly authModes: AuthModesService,
    private readonly grants: GrantsService,
    private readonly transactions: Transactions,
    private readonly audit: AuditService,
    private readonly config: ConfigService,
    private readonly feed: ChangeFeed,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.reload();
    this.upstreams.useNamedBundles({
      byResource: (resource) => [...this.byName.values()].find((b) => b.target.resource === withoutTrailingSlashes(resource))?.target,
      bySlug: (slug) => [...this.byName.values()].find((b) => b.target.slug === slug)?.target,
    });
    // Changed on another replica (PostgreSQL): read the bundles again; its sessions here end as on the replica that changed it.
    this.feed.on('bundle.changed', (name) => void this.reloadQuietly(name));
    this.feed.onResync(() => void this.reloadQuietly());
    if (this.feed.shared) {
      this.safetyReload = setInterval(() => void this.reloadQuietly(), ChangeFeed.SAFETY_TTL_MS);
      this.safetyReload.unref();
    }
  }

  onModuleDestroy(): void {
    if (this.safetyReload) clearInterval(this.safetyReload);
  }

  private async reloadQuietly(changed?: string): Promise<void> {
    try {
      await this.reload(changed);
    } catch (err) {
      this.logger.error(`could not read the bundles again: ${(err as Error).message}`);
    }
  }

  /** Called with the name of a bundle that changed or went away. */
  onChange(listener: (name: string) => void): void {
    this.listeners.push(listener);
  }

  /** The bundle as a target (its slug `@bundle/{name}`), or undefined. */
  target(name: string): Upstream | undefined {
    return this.byName.get(name)?.target;
  }

  /** Bundles after `afterName`, in name order. */
  list(page: { afterName: string | null; limit: number }): BundleView[] {
    return [...this.byName.values()]
      .map((b) => b.record)
      .filter((r) => page.afterName === null || r.name > page.afterName)
      .sort((a, b) => (a.name < b.name ? -1 : 1))
      .slice(0, page.limit)
      .map((r) => this.view(r));
  }

  get(name: string): BundleView {
    const b = this.byName.get(name);
    if (!b) throw notFound(`no bundle "${name}"`);
    return this.view(b.record);
  }

  async create(name: string, upstreams: string[], actor: Actor): Promise<BundleView> {
    if (!BUNDLE_NAME_RULE.test(name)) throw invalidFields({ name: 'must be 1-63 lower-case letters, digits and dashes, starting with a letter or digit' });
    const members = this.checkMembers(upstreams);
    if (this.byName.has(name)) throw conflict(`a bundle named "${name}" already exists`);
    const now = Date.now();
    await this.transactions.run(async (tx) => {
      await tx.insert(this.records, { name, upstreams: members, createdAt: now, updatedAt: now });
      await this.audit.recordIn(tx, { type: 'admin.bundle.create', outcome: 'success', userId: actor.userId, ip: actor.ip, detail: { bundle: name, upstreams: members } });
    });
    await this.reloadAfterChange(name);
    this.feed.publish('bundle.changed', name);
    return this.get(name);
  }

  async update(name: string, upstreams: string[], actor: Actor): Promise<BundleView> {
    const before = this.byName.get(name);
    if (!before) throw notFound(`no bundle "${name}"`);
    const members = this.checkMembers(upstreams);
    await this.transactions.run(async (tx) => {
      await tx.update(this.records, { name }, { upstreams: members, updatedAt: Date.now() });
      await this.audit.recordIn(tx, {
        type: 'admin.bundle.update',
        outcome: 'success',
        userId: actor.userId,
        ip: actor.ip,
        detail: { bundle: name, from: before.record.upstreams, to: members },
      });
    });
    await this.reloadAfterChange(name);
    this.feed.publish('bundle.changed', name);
    return this.get(name);
  }

  /** Deletes the bundle and revokes its grants (their open sessions end with them). */
  async delete(name: string, actor: Actor): Promise<void> {
    if (!this.byName.has(name)) throw notFound(`no bundle "${name}"`);
    await this.transactions.run(async (tx) => {
      await tx.delete(this.records, { name });
      await this.audit.recordIn(tx, { type: 'admin.bundle.delete', outcome: 'success', userId: actor.userId, ip: actor.ip, detail: { bundle: name } });
    });
    await this.reloadAfterChange(name);
    this.feed.publish('bundle.changed', name);
    await this.grants.revokeAllFor({ upstreamSlug: bundleSlug(name) }, { reason: 'bundle deleted', ip: actor.ip });
  }

  /** Known upstream slugs (enabled or not: a disabled one simply offers nothing), each once, bounded. */
  private checkMembers(upstreams: string[]): string[] {
    const members = [...new Set(upstreams)];
    if (!members.length) throw invalidFields({ upstreams: 'must name at least one upstream' });
    if (members.length > MAX_MEMBERS) throw invalidFields({ upstreams: `may name at most ${MAX_MEMBERS} upstreams` });
    const unknown = members.filter((slug) => !this.upstreams.find(slug));
    if (unknown.length) throw invalidFields({ upstreams: `names no upstream: ${unknown.join(', ')}` });
    return members;
  }

  private view(r: BundleRecord): BundleView {
    return {
      name: r.name,
      mcpUrl: this.byName.get(r.name)!.target.resource,
      upstreams: r.upstreams.map((slug) => ({ slug, name: this.upstreams.find(slug)?.name ?? null })),
      createdAt: r.createdAt,
      updatedAt: r.updatedAt,
    };
  }

  /** A change made here has committed: reads already begun are read again. */
  private reloadAfterChange(name: string): Promise<void> {
    this.fresh.changed();
    return this.reload(name);
  }

  private async reload(changed?: string): Promise<void> {
    const noSettings = this.authModes.settingsOf({});
    await this.fresh.reload(
      () => this.records.find(),
      (rows) => {
        this.byName = new Map(
          rows.map((record) => {
            const target = bundleUpstream(this.config.publicUrl, noSettings, record.name);
            BUNDLE_MEMBERS.set(target, record.upstreams);
            return [record.name, { record, target }];
          }),
        );
      },
    );
    if (changed !== undefined) for (const l of this.listeners) l(changed);
  }
}
