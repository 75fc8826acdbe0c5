import { randomUUID } from 'node:crypto';
import { Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { FindOptionsWhere, Repository } from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import { AuditService } from '../audit/audit.service';
import { conflict, notFound } from '../common/api-errors';
import { ChangeFeed } from '../database/change-feed';
import { FreshReads } from '../database/fresh-reads';
import { Transactions, Tx } from '../database/transactions';
import { Actor } from '../identity/actor';
import type { ListedTool } from '../proxy/tools-list-rewrite';
import { upstreamNotFound } from '../upstreams/upstream-admin.errors';
import { UpstreamAdminService } from '../upstreams/upstream-admin.service';
import { UpstreamsService } from '../upstreams/upstreams.service';
import { PinningMode } from './pinning';
import { definitionHash, definitionOf, ToolDefinition } from './tool-definition';
import { ToolPolicyService } from './tool-policy.service';
import { ToolVersion, ToolVersionStatus } from './tool-version.entity';

/** What the catalogue holds in memory for one tool of one upstream. */
interface ToolEntry {
  approved: ToolVersion | null;
  pending: ToolVersion | null;
  /** Hashes an admin rejected: offered again, they stay refused without asking again. */
  rejected: Set<string>;
  /** The hash of the definition the upstream served last. */
  current: string;
  /** JSON.stringify of the tool as last served: equal bytes skip the canonical hash. */
  lastRaw: string;
  /** When last_seen_at was last written (it is refreshed at most every LAST_SEEN_EVERY_MS). */
  seenWrittenAt: number;
}

/** The catalogue's view of a tool, for the console. */
export interface CatalogueItem {
  name: string;
  /** approved: served as approved; pending: a changed definition awaits an admin; new: a tool never approved awaits one; rejected: serves a rejected definition. */
  status: 'approved' | 'pending' | 'new' | 'rejected';
  approved: VersionView | null;
  pending: VersionView | null;
}

export interface VersionView {
  hash: string;
  definition: ToolDefinition;
  firstSeenAt: number;
  lastSeenAt: number;
  decidedAt: number | null;
}

const LAST_SEEN_EVERY_MS = 10 * 60_000;
/** Tools recorded per upstream: a server listing more is not one an admin reviews; the rest are not pinned. */
const MAX_TOOLS_PER_UPSTREAM = 2000;

/**
 * The tool catalogue (issue 12): each upstream's tools with a hash of their definition (name,
 * title, description, input/output schema, annotations), recorded from test connections and from
 * the tools/list responses the proxy reads. The first list seen for an upstream is its baseline
 * (approved as served: trust on first use); after that a changed definition or a new tool is kept
 * as a pending version and the upstream's pinning mode decides: `off` takes it, `warn` serves it
 * but audits `mcp.tool.changed` and badges it in the console, `quarantine` hides it from
 * tools/list and refuses its calls until an admin approves it.
 */
@Injectable()
export class ToolCatalogueService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('ToolCatalogue');
  private bySlug = new Map<string, Map<string, ToolEntry>>();
  private safetyReload: NodeJS.Timeout | null = null;
  /** Keeps a reload from putting back rows older than a definition recorded, approved or rejected here. */
  private readonly fresh = new FreshReads();

  constructor(
    @InjectRepository(ToolVersion) private readonly versions: Repository<ToolVersion>,
    private readonly policy: ToolPolicyService,
    private readonly upstreams: UpstreamsService,
    private readonly upstreamAdmin: UpstreamAdminService,
    private readonly audit: AuditService,
    private readonly transactions: Transactions,
    private readonly feed: ChangeFeed,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.reload();
    // Replicas on one PostgreSQL: a definition approved, rejected or recorded on another replica is
    // read again here at once (the upstream's rows only), as the tool policy and the registry are.
    this.feed.on('tool_catalogue.changed', (slug) => void this.reloadQuietly(slug));
    this.feed.onResync(() => void this.reloadQuietly());
    if (this.feed.shared) {
      // The net under a missed notification. The table is bounded (MAX_TOOLS_PER_UPSTREAM tools per
      // upstream, one row per distinct definition), read whole every SAFETY_TTL_MS like the rules.
      this.safetyReload = setInterval(() => void this.reloadQuietly(), ChangeFeed.SAFETY_TTL_MS);
      this.safetyReload.unref();
    }
    this.upstreamAdmin.onToolsListed((slug, tools) => this.observeQuietly(slug, tools));
    // A deleted upstream takes its catalogue along.
    this.upstreams.onChange((slug) => {
      if (!this.upstreams.find(slug) && this.bySlug.has(slug)) {
        this.bySlug.delete(slug);
        void this.versions.delete({ upstreamSlug: slug });
      }
    });
  }

  async onModuleDestroy(): Promise<void> {
    if (this.safetyReload) clearInterval(this.safetyReload);
    // A definition recorded just before shutdown is written before the database closes.
    await this.written();
  }

  /** Resolves once the changes made here so far are written (or failed, which is logged). */
  written(): Promise<void> {
    return this.fresh.written();
  }

  /**
   * Records the tools an upstream listed and returns those a client may see (all of them unless
   * the upstream is in `quarantine`). Synchronous: it writes only when something changed.
   */
  observe(upstreamSlug: string, tools: ListedTool[]): ListedTool[] {
    const mode = this.policy.pinningOf(upstreamSlug);
    let entries = this.bySlug.get(upstreamSlug);
    const baseline = !entries?.size;
    if (!entries) {
      entries = new Map();
      this.bySlug.set(upstreamSlug, entries);
    }
    const now = Date.now();
    const writes: Array<(tx: Tx) => Promise<unknown>> = [];
    const touched: string[] = [];
    const visible: ListedTool[] = [];
    for (const tool of tools) {
      if (!tool || typeof tool.name !== 'string') continue;
      const raw = JSON.stringify(tool);
      let entry = entries.get(tool.name);
      if (entry && entry.lastRaw === raw) {
        if (now - entry.seenWrittenAt > LAST_SEEN_EVERY_MS) touched.push(...this.seen(entry, now));
      } else if (entry || entries.size < MAX_TOOLS_PER_UPSTREAM) {
        const definition = definitionOf(tool);
        const hash = definitionHash(definition);
        if (!entry) {
          entry = { approved: null, pending: null, rejected: new Set(), current: hash, lastRaw: raw, seenWrittenAt: now };
          entries.set(tool.name, entry);
        }
        entry.lastRaw = raw;
        entry.current = hash;
        writes.push(...this.changeOf(upstreamSlug, entry, definition, hash, mode, baseline, now));
      }
      if (mode !== 'quarantine' || (entry && this.servesApproved(entry))) visible.push(tool);
    }
    if (writes.length || touched.length) {
      // Not awaited: the caller (a tools/list answer) goes on at once; the memory above is already
      // current, the rows follow in the transaction queue (and a failure is logged, not thrown).
      const written = this.transactions
        .run(async (tx) => {
          // Replicas: memory held nothing of this upstream, but another replica may have recorded its
          // baseline since this one last read the table. Then this list is no baseline (it could be
          // a changed tool, which must not be approved by default): read the rows, and look again.
          if (baseline && mode !== 'off' && (await tx.find(this.versions, { upstreamSlug }, ['id'])).length) {
            tx.afterCommit(() => void this.reloadQuietly(upstreamSlug).then(() => this.observeQuietly(upstreamSlug, tools)));
            return;
          }
          for (const w of writes) await w(tx);
          if (touched.length) for (const id of touched) await tx.update(this.versions, { id }, { lastSeenAt: now });
          // A new or changed definition matters to the other replicas' gates (a refreshed last_seen_at does not).
          if (writes.length) tx.afterCommit(() => this.feed.publish('tool_catalogue.changed', upstreamSlug));
        })
        .catch((err: Error) => this.logger.error(`could not record the tools of ${upstreamSlug}: ${err.message}`));
      if (writes.length) void this.fresh.writing(written);
    }
    return visible;
  }

  private observeQuietly(upstreamSlug: string, tools: ListedTool[]): void {
    try {
      this.observe(upstreamSlug, tools);
    } catch (err) {
      this.logger.error(`could not record the tools of ${upstreamSlug}: ${(err as Error).message}`);
    }
  }

  /** Whether a tools/call of this tool may go to the upstream (only `quarantine` refuses). */
  isCallable(upstreamSlug: string, toolName: string): boolean {
    if (this.policy.pinningOf(upstreamSlug) !== 'quarantine') return true;
    const entries = this.bySlug.get(upstreamSlug);
    // Nothing listed yet: nothing is pinned (the first tools/list sets the baseline).
    if (!entries?.size) return true;
    const entry = entries.get(toolName);
    return !!entry && this.servesApproved(entry);
  }

  /** The pending version of a tool (for the refusal's audit row). */
  pendingOf(upstreamSlug: string, toolName: string): string | null {
    return this.bySlug.get(upstreamSlug)?.get(toolName)?.pending?.hash ?? null;
  }

  /** Tool names known for an upstream. */
  names(upstreamSlug: string): string[] {
    return [...(this.bySlug.get(upstreamSlug)?.keys() ?? [])];
  }

  /** How many tools await an admin (the console's badge). */
  pendingCount(upstreamSlug: string): number {
    let n = 0;
    for (const e of this.bySlug.get(upstreamSlug)?.values() ?? []) if (e.pending) n++;
    return n;
  }

  list(upstreamSlug: string): CatalogueItem[] {
    if (!this.upstreams.find(upstreamSlug)) throw upstreamNotFound(upstreamSlug);
    const items: CatalogueItem[] = [];
    for (const [name, e] of this.bySlug.get(upstreamSlug) ?? []) {
      const status = e.pending ? (e.approved ? 'pending' : 'new') : e.approved && e.current !== e.approved.hash && e.rejected.has(e.current) ? 'rejected' : 'approved';
      items.push({ name, status, approved: view(e.approved), pending: view(e.pending) });
    }
    return items.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Approves the tool's pending version: it becomes what clients get (and the earlier one is kept as superseded). */
  approve(upstreamSlug: string, toolName: string, actor: Actor): Promise<CatalogueItem> {
    const entry = this.pendingEntry(upstreamSlug, toolName);
    const pending = entry.pending!;
    const previous = entry.approved;
    return this.decide(upstreamSlug, toolName, entry, actor, {
      type: 'admin.upstream.tool_approve',
      detail: { previous: previous?.hash ?? null },
      write: async (tx, decided) => {
        if (previous) await tx.update(this.versions, { id: previous.id }, { status: 'superseded' });
        await tx.update(this.versions, { id: pending.id }, { status: 'approved', ...decided });
      },
      inMemory: (decided) => {
        Object.assign(pending, { status: 'approved', ...decided });
        entry.approved = pending;
      },
    });
  }

  /** Rejects the pending version: under `quarantine` the tool stays hidden while the upstream serves it. */
  reject(upstreamSlug: string, toolName: string, actor: Actor): Promise<CatalogueItem> {
    const entry = this.pendingEntry(upstreamSlug, toolName);
    const pending = entry.pending!;
    return this.decide(upstreamSlug, toolName, entry, actor, {
      type: 'admin.upstream.tool_reject',
      write: (tx, decided) => tx.update(this.versions, { id: pending.id }, { status: 'rejected', ...decided }).then(() => undefined),
      inMemory: () => void entry.rejected.add(pending.hash),
    });
  }

  /**
   * An admin's decision on a tool's pending version: its rows and audit row in one transaction; memory
   * follows once it has committed (reloads begun meanwhile are read again, see FreshReads), and the
   * other replicas are told.
   */
  private async decide(
    upstreamSlug: string,
    toolName: string,
    entry: ToolEntry,
    actor: Actor,
    decision: {
      type: 'admin.upstream.tool_approve' | 'admin.upstream.tool_reject';
      detail?: Record<string, unknown>;
      write: (tx: Tx, decided: { decidedAt: number; decidedBy: string }) => Promise<void>;
      inMemory: (decided: { decidedAt: number; decidedBy: string }) => void;
    },
  ): Promise<CatalogueItem> {
    const pending = entry.pending!;
    const decided = { decidedAt: Date.now(), decidedBy: actor.userId };
    await this.fresh.writing(
      this.transactions.run(async (tx) => {
        await decision.write(tx, decided);
        await this.audit.recordIn(tx, {
          type: decision.type,
          outcome: 'success',
          userId: actor.userId,
          ip: actor.ip,
          upstreamSlug,
          tool: toolName,
          detail: { target_upstream: upstreamSlug, tool: toolName, hash: pending.hash, ...decision.detail },
        });
        tx.afterCommit(() => {
          decision.inMemory(decided);
          entry.pending = null;
          this.feed.publish('tool_catalogue.changed', upstreamSlug);
        });
      }),
    );
    return this.list(upstreamSlug).find((i) => i.name === toolName)!;
  }

  private pendingEntry(upstreamSlug: string, toolName: string): ToolEntry {
    if (!this.upstreams.find(upstreamSlug)) throw upstreamNotFound(upstreamSlug);
    const entry = this.bySlug.get(upstreamSlug)?.get(toolName);
    if (!entry) throw notFound(`no tool "${toolName}" in the catalogue of ${upstreamSlug}`);
    if (!entry.pending) throw conflict(`the tool "${toolName}" has no pending version`);
    return entry;
  }

  private servesApproved(entry: ToolEntry): boolean {
    return !!entry.approved && entry.current === entry.approved.hash;
  }

  /** The writes (and the in-memory change) for a tool served with `hash`. */
  private changeOf(
    slug: string,
    entry: ToolEntry,
    definition: ToolDefinition,
    hash: string,
    mode: PinningMode,
    baseline: boolean,
    now: number,
  ): Array<(tx: Tx) => Promise<unknown>> {
    const known = [entry.approved, entry.pending].find((v) => v?.hash === hash);
    if (known) return this.seen(entry, now).map((id) => (tx: Tx) => tx.update(this.versions, { id }, { lastSeenAt: now }));
    if (entry.rejected.has(hash) && mode !== 'off') return [];
    const version: ToolVersion = {
      id: randomUUID(),
      upstreamSlug: slug,
      toolName: definition.name,
      hash,
      definition,
      status: 'approved',
      firstSeenAt: now,
      lastSeenAt: now,
      decidedAt: null,
      decidedBy: null,
    };
    // Off: the catalogue follows the upstream. The first list of an upstream is its baseline.
    if (mode === 'off' || baseline) {
      const previous = entry.approved;
      const stalePending = entry.pending;
      entry.approved = version;
      entry.pending = null;
      return [
        async (tx) => {
          if (previous) await tx.update(this.versions, { id: previous.id }, { status: 'superseded' });
          if (stalePending) await tx.update(this.versions, { id: stalePending.id }, { status: 'superseded' });
          await this.putVersion(tx, version);
        },
      ];
    }
    version.status = 'pending';
    const replaced = entry.pending;
    entry.pending = version;
    const change = entry.approved ? 'changed' : 'new';
    return [
      async (tx) => {
        if (replaced) await tx.update(this.versions, { id: replaced.id }, { status: 'superseded' });
        await this.putVersion(tx, version);
        await this.audit.recordIn(tx, {
          type: 'mcp.tool.changed',
          outcome: 'success',
          upstreamSlug: slug,
          tool: definition.name,
          detail: { tool: definition.name, change, pinning: mode, hash, approved: entry.approved?.hash ?? null, hidden: mode === 'quarantine' },
        });
      },
    ];
  }

  /**
   * Writes a version; a definition seen before (e.g. an upstream going back to an earlier one) is
   * the same row, by the unique (upstream, tool, hash), which then takes the new status.
   */
  private async putVersion(tx: Tx, version: ToolVersion): Promise<void> {
    const existing = await tx.find(this.versions, { upstreamSlug: version.upstreamSlug, toolName: version.toolName, hash: version.hash }, ['id']);
    if (existing.length) {
      version.id = existing[0].id;
      await tx.update(this.versions, { id: version.id }, { status: version.status, lastSeenAt: version.lastSeenAt, decidedAt: null, decidedBy: null });
    } else {
      await tx.insert(this.versions, { ...version, definition: version.definition as unknown as QueryDeepPartialEntity<ToolDefinition> });
    }
  }

  /** The ids whose last_seen_at is due a refresh (the served version). */
  private seen(entry: ToolEntry, now: number): string[] {
    if (now - entry.seenWrittenAt <= LAST_SEEN_EVERY_MS) return [];
    entry.seenWrittenAt = now;
    const served = [entry.approved, entry.pending].find((v) => v?.hash === entry.current);
    if (served) served.lastSeenAt = now;
    return served ? [served.id] : [];
  }

  private async reloadQuietly(slug?: string): Promise<void> {
    try {
      await this.reload(slug);
    } catch (err) {
      this.logger.error(`could not read the tool catalogue again: ${(err as Error).message}`);
    }
  }

  /** Reads the catalogue (or one upstream's part of it) from the database, replacing what memory holds. */
  private async reload(slug?: string): Promise<void> {
    const where: FindOptionsWhere<ToolVersion> = slug === undefined ? {} : { upstreamSlug: slug };
    await this.fresh.reload(
      () => this.versions.find({ where, order: { lastSeenAt: 'ASC' } }),
      (rows) => this.replaceWith(rows, slug),
    );
  }

  private replaceWith(rows: ToolVersion[], slug: string | undefined): void {
    const bySlug = new Map<string, Map<string, ToolEntry>>();
    for (const row of rows) {
      let entries = bySlug.get(row.upstreamSlug);
      if (!entries) bySlug.set(row.upstreamSlug, (entries = new Map<string, ToolEntry>()));
      let entry = entries.get(row.toolName);
      if (!entry) entries.set(row.toolName, (entry = { approved: null, pending: null, rejected: new Set(), current: row.hash, lastRaw: '', seenWrittenAt: row.lastSeenAt }));
      const status: ToolVersionStatus = row.status;
      if (status === 'approved') entry.approved = row;
      else if (status === 'pending') entry.pending = row;
      else if (status === 'rejected') entry.rejected.add(row.hash);
      // Rows come oldest-seen first: the last one is what the upstream served last.
      if (status !== 'superseded') entry.current = row.hash;
    }
    if (slug === undefined) this.bySlug = bySlug;
    else if (bySlug.has(slug)) this.bySlug.set(slug, bySlug.get(slug)!);
    else this.bySlug.delete(slug);
  }
}

function view(v: ToolVersion | null): VersionView | null {
  return v && { hash: v.hash, definition: v.definition, firstSeenAt: v.firstSeenAt, lastSeenAt: v.lastSeenAt, decidedAt: v.decidedAt };
}
