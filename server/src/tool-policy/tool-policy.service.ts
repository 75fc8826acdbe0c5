import { Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { LRUCache } from 'lru-cache';
import { Repository } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { ConfigService } from '../config/config.service';
import { ChangeFeed } from '../database/change-feed';
import { FreshReads } from '../database/fresh-reads';
import { Transactions } from '../database/transactions';
import { Actor } from '../identity/actor';
import { GroupsService } from '../identity/groups.service';
import { UsersService } from '../identity/users.service';
import { readOnly, upstreamNotFound } from '../upstreams/upstream-admin.errors';
import { UpstreamsService } from '../upstreams/upstreams.service';
import { invalidFields } from '../common/api-errors';
import { PinningMode } from './pinning';
import { ToolPolicyRecord } from './tool-policy.entity';
import { compileRules, CompiledRule, decideAmong, normalizeRules, ruleProblems, rulesFor, ToolCaller, ToolDecision, ToolRule } from './tool-rule';

interface PolicyState {
  rules: ToolRule[];
  compiled: CompiledRule[];
  pinning: PinningMode;
}

interface CallerRules {
  groupsKey: string;
  email: string | null;
  rules: CompiledRule[];
}

const NO_POLICY: PolicyState = Object.freeze({ rules: [], compiled: [], pinning: 'off' });
/** Callers whose applicable rules are kept per upstream; each entry is a few pointers. */
const CALLER_CACHE_SIZE = 10_000;

/**
 * Per-tool policy (issue 12): per upstream, ordered allow/deny rules by tool name or glob for
 * users, groups or everyone, first match wins, default allow; and the upstream's catalogue
 * pinning mode (the catalogue itself is ToolCatalogueService). Served from memory: the proxy
 * asks on every request to an upstream that has rules.
 */
@Injectable()
export class ToolPolicyService implements OnModuleInit, OnModuleDestroy {
  private bySlug = new Map<string, PolicyState>();
  /** `slug\0userId` → the rules that concern that caller (bounded; cleared when rules change). */
  private readonly callers = new LRUCache<string, CallerRules>({ max: CALLER_CACHE_SIZE });
  private safetyReload: NodeJS.Timeout | null = null;
  /** Keeps a reload started by another replica from putting back rows older than a change made here. */
  private readonly fresh = new FreshReads();
  private readonly logger = new Logger('ToolPolicy');

  constructor(
    @InjectRepository(ToolPolicyRecord) private readonly records: Repository<ToolPolicyRecord>,
    private readonly upstreams: UpstreamsService,
    private readonly users: UsersService,
    private readonly groups: GroupsService,
    private readonly audit: AuditService,
    private readonly transactions: Transactions,
    private readonly config: ConfigService,
    private readonly feed: ChangeFeed,
  ) {}

  async onModuleInit(): Promise<void> {
    if (this.config.seedsFromConfig) await this.seedFromConfig();
    await this.reload();
    // A deleted upstream takes its rules along, so that a new upstream under the same slug starts clean.
    this.upstreams.onChange((slug) => {
      if (!this.upstreams.find(slug) && this.bySlug.has(slug)) void this.forget(slug);
    });
    // Rules edited on another replica (PostgreSQL): read them again, as the upstream registry does.
    this.feed.on('tool_policy.changed', () => void this.reloadQuietly());
    this.feed.onResync(() => void this.reloadQuietly());
    if (this.feed.shared) {
      // The net under a missed notification: a small table, read every SAFETY_TTL_MS.
      this.safetyReload = setInterval(() => void this.reloadQuietly(), ChangeFeed.SAFETY_TTL_MS);
      this.safetyReload.unref();
    }
  }

  onModuleDestroy(): void {
    if (this.safetyReload) clearInterval(this.safetyReload);
  }

  /** Whether the gateway must read this upstream's tool traffic: it has rules, or pins its catalogue. */
  engaged(slug: string): boolean {
    const state = this.bySlug.get(slug);
    return !!state && (state.compiled.length > 0 || state.pinning !== 'off');
  }

  hasRules(slug: string): boolean {
    return (this.bySlug.get(slug)?.compiled.length ?? 0) > 0;
  }

  rulesOf(slug: string): ToolRule[] {
    return (this.bySlug.get(slug) ?? NO_POLICY).rules;
  }

  pinningOf(slug: string): PinningMode {
    return (this.bySlug.get(slug) ?? NO_POLICY).pinning;
  }

  /** The caller as rules name them: email and group names (both cached by identity/). */
  async callerOf(userId: string): Promise<ToolCaller> {
    const [profile, groupIds] = await Promise.all([this.users.profile(userId), this.groups.namesFor(userId)]);
    return { userId, email: profile?.email ?? null, groupIds };
  }

  /** May this caller use this tool of this upstream? Synchronous and allocation-free once the caller is cached. */
  decide(upstreamSlug: string, caller: ToolCaller, toolName: string): ToolDecision {
    const state = this.bySlug.get(upstreamSlug);
    if (!state?.compiled.length) return { allowed: true };
    return decideAmong(this.rulesForCaller(upstreamSlug, state, caller), toolName);
  }

  /** A decider bound to one caller, for filtering a whole tools/list at once. */
  deciderFor(upstreamSlug: string, caller: ToolCaller): (toolName: string) => ToolDecision {
    const state = this.bySlug.get(upstreamSlug);
    if (!state?.compiled.length) return () => ({ allowed: true });
    const rules = this.rulesForCaller(upstreamSlug, state, caller);
    return (toolName) => decideAmong(rules, toolName);
  }

  private rulesForCaller(slug: string, state: PolicyState, caller: ToolCaller): CompiledRule[] {
    const key = `${slug}\0${caller.userId}`;
    const groupsKey = caller.groupIds.join('\n');
    const email = caller.email ?? null;
    const hit = this.callers.get(key);
    // Group membership is part of the key: GroupsService hands out a new list when it changes.
    if (hit && hit.groupsKey === groupsKey && hit.email === email) return hit.rules;
    const rules = rulesFor(state.compiled, caller);
    this.callers.set(key, { groupsKey, email, rules });
    return rules;
  }

  /** Replaces an upstream's ordered rules (admin action; config.yaml upstreams are read-only). */
  async setRules(slug: string, input: unknown, actor: Actor): Promise<ToolRule[]> {
    this.editable(slug);
    const problems = ruleProblems(input);
    if (Object.keys(problems).length) throw invalidFields(problems);
    const rules = normalizeRules(input as ToolRule[]);
    await this.write(slug, { rules }, actor, 'admin.upstream.tool_rules', { rules: rules.length });
    return rules;
  }

  async setPinning(slug: string, pinning: PinningMode, actor: Actor): Promise<void> {
    this.editable(slug);
    await this.write(slug, { pinning }, actor, 'admin.upstream.tool_pinning', { pinning });
  }

  /**
   * Rules name groups, so a renamed group's rules follow it (else a deny rule would silently stop
   * applying to its members). Returns the upstreams changed; config.yaml ones change until the
   * next start, when the file is read again (the caller warns about those).
   */
  async renameGroup(from: string, to: string): Promise<Array<{ slug: string; source: 'config' | 'console' }>> {
    const changed: Array<{ slug: string; source: 'config' | 'console' }> = [];
    for (const [slug, state] of this.bySlug) {
      if (!state.rules.some((r) => r.groups.includes(from))) continue;
      const rules = state.rules.map((r) => ({ ...r, groups: [...new Set(r.groups.map((g) => (g === from ? to : g)))] }));
      const row = { upstreamSlug: slug, rules, pinning: state.pinning, updatedAt: Date.now() };
      await this.transactions.run((tx) => tx.update(this.records, { upstreamSlug: slug }, { rules, updatedAt: row.updatedAt }));
      this.applyHere(row);
      this.feed.publish('tool_policy.changed', slug);
      changed.push({ slug, source: this.upstreams.find(slug)?.source ?? 'console' });
    }
    return changed;
  }

  /** Whether the console may change the upstream's tool settings (config.yaml upstreams: no). */
  readOnlyReason(slug: string): string | null {
    const upstream = this.upstreams.find(slug);
    if (upstream?.source !== 'config') return null;
    return `managed by config file: edit upstreams[slug=${slug}].tools in config.yaml`;
  }

  private editable(slug: string): void {
    if (!this.upstreams.find(slug)) throw upstreamNotFound(slug);
    const reason = this.readOnlyReason(slug);
    if (reason) throw readOnly(reason);
  }

  private async write(
    slug: string,
    change: Partial<Pick<ToolPolicyRecord, 'rules' | 'pinning'>>,
    actor: Actor,
    type: 'admin.upstream.tool_rules' | 'admin.upstream.tool_pinning',
    detail: Record<string, unknown>,
  ): Promise<void> {
    const current = this.bySlug.get(slug) ?? NO_POLICY;
    const row = { upstreamSlug: slug, rules: change.rules ?? current.rules, pinning: change.pinning ?? current.pinning, updatedAt: Date.now() };
    await this.transactions.run(async (tx) => {
      await tx.upsert(this.records, row, ['rules', 'pinning', 'updated_at'], ['upstream_slug']);
      await this.audit.recordIn(tx, { type, outcome: 'success', userId: actor.userId, ip: actor.ip, upstreamSlug: slug, detail: { target_upstream: slug, ...detail } });
    });
    this.applyHere(row);
    this.feed.publish('tool_policy.changed', slug);
  }

  /** A change made here, committed: into memory, and reads already begun are read again. */
  private applyHere(row: Pick<ToolPolicyRecord, 'upstreamSlug' | 'rules' | 'pinning'>): void {
    this.apply(row);
    this.fresh.changed();
  }

  private apply(row: Pick<ToolPolicyRecord, 'upstreamSlug' | 'rules' | 'pinning'>): void {
    this.bySlug.set(row.upstreamSlug, { rules: row.rules, compiled: compileRules(row.rules), pinning: row.pinning });
    // Simplest correct invalidation: rule edits are rare, and the cache refills on the next call.
    this.callers.clear();
  }

  private async reload(): Promise<void> {
    await this.fresh.reload(
      () => this.records.find(),
      (rows) => {
        this.bySlug = new Map();
        for (const row of rows) this.apply(row);
        this.callers.clear();
      },
    );
  }

  private async reloadQuietly(): Promise<void> {
    try {
      await this.reload();
    } catch (err) {
      this.logger.error(`could not read the tool policies again: ${(err as Error).message}`);
    }
  }

  private async forget(slug: string): Promise<void> {
    await this.records.delete({ upstreamSlug: slug });
    this.bySlug.delete(slug);
    this.callers.clear();
    this.fresh.changed();
  }

  /** config.yaml upstreams take their `tools` from the file at every start (none there: no rules, pinning off). */
  private async seedFromConfig(): Promise<void> {
    for (const u of this.config.upstreams) {
      const tools = u.tools;
      const rules = normalizeRules(tools?.rules ?? []);
      const pinning = tools?.pinning ?? 'off';
      if (!rules.length && pinning === 'off') await this.records.delete({ upstreamSlug: u.slug });
      else await this.records.save({ upstreamSlug: u.slug, rules, pinning, updatedAt: Date.now() });
    }
  }
}
