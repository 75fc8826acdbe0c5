import { Body, Get, HttpCode, Param, Post, Put } from '@nestjs/common';
import { Actor } from '../identity/actor';
import { Roles } from '../identity/roles.guard';
import { UsersService } from '../identity/users.service';
import { GroupsService } from '../identity/groups.service';
import { AccessPolicyService } from '../upstreams/access-policy.service';
import { upstreamNotFound } from '../upstreams/upstream-admin.errors';
import { UpstreamsService } from '../upstreams/upstreams.service';
import { ToolCatalogueService } from '../tool-policy/tool-catalogue.service';
import { ToolGateService } from '../tool-policy/tool-gate.service';
import { ToolPolicyService } from '../tool-policy/tool-policy.service';
import { AdminApi, CurrentActor } from './admin-api';
import { ToolPinningDto, ToolRulesDto } from './tool-policy.dto';

/** Users shown in the preview: beyond this the console says the list is cut. */
const PREVIEW_USERS = 200;

/**
 * /admin/api/upstreams/:slug/tool-rules and /tool-preview: the per-tool policy of an upstream
 * (admins edit, auditors read), and who can call what under it.
 */
@AdminApi('upstreams')
export class ToolPolicyController {
  constructor(
    private readonly policy: ToolPolicyService,
    private readonly gate: ToolGateService,
    private readonly catalogue: ToolCatalogueService,
    private readonly upstreams: UpstreamsService,
    private readonly access: AccessPolicyService,
    private readonly users: UsersService,
    private readonly groups: GroupsService,
  ) {}

  /** → `{ rules, pinning, readOnlyReason }` */
  @Get(':slug/tool-rules')
  @Roles('admin', 'auditor')
  rules(@Param('slug') slug: string) {
    return this.view(slug);
  }

  /** → the same, after replacing the whole ordered list; 409 read_only for config.yaml upstreams. */
  @Put(':slug/tool-rules')
  async setRules(@Param('slug') slug: string, @Body() body: ToolRulesDto, @CurrentActor() actor: Actor) {
    await this.policy.setRules(slug, body.rules, actor);
    return this.view(slug);
  }

  /** → the same, after changing the catalogue pinning mode; 409 read_only for config.yaml upstreams. */
  @Put(':slug/tool-pinning')
  async setPinning(@Param('slug') slug: string, @Body() body: ToolPinningDto, @CurrentActor() actor: Actor) {
    await this.policy.setPinning(slug, body.pinning, actor);
    return this.view(slug);
  }

  /**
   * Who can call what: `{ tools: string[], users: [{ id, email, groups, upstreamAccess, allowed: string[], denied: [{ tool, rule }] }], groups: [...], truncated }`.
   * Tools are those the catalogue knows plus the exact names the rules mention; users are the first
   * 200 by email (`truncated` says when there are more). `upstreamAccess` false: the allow-list keeps them out anyway.
   */
  @Get(':slug/tool-preview')
  @Roles('admin', 'auditor')
  async preview(@Param('slug') slug: string) {
    const upstream = this.upstreams.find(slug);
    if (!upstream) throw upstreamNotFound(slug);
    const rules = this.policy.rulesOf(slug);
    const tools = [...new Set([...this.gate.knownTools(slug), ...rules.flatMap((r) => r.tools.filter((t) => !/[*?]/.test(t)))])].sort();
    const page = await this.users.list({}, { afterEmail: null, limit: PREVIEW_USERS + 1 });
    const users = [];
    for (const user of page.slice(0, PREVIEW_USERS)) {
      const caller = await this.policy.callerOf(user.id);
      const decisions = tools.map((tool) => ({ tool, decision: this.policy.decide(slug, caller, tool) }));
      users.push({
        id: user.id,
        email: user.email,
        groups: caller.groupIds,
        upstreamAccess: await this.access.allows(upstream, user.id),
        allowed: decisions.filter((d) => d.decision.allowed).map((d) => d.tool),
        denied: decisions.filter((d) => !d.decision.allowed).map((d) => ({ tool: d.tool, rule: d.decision.rule ?? null })),
      });
    }
    const groupNames = [...new Set(rules.flatMap((r) => r.groups))].sort();
    const groups = groupNames.map((name) => {
      const caller = { userId: '', email: null, groupIds: [name] };
      return { name, allowed: tools.filter((t) => this.policy.decide(slug, caller, t).allowed) };
    });
    return { tools, users, groups, truncated: page.length > PREVIEW_USERS };
  }

  /**
   * The tool catalogue: `{ pinning, readOnlyReason, pending, items: [{ name, status, approved, pending }] }`, each
   * version with its hash, definition and first/last seen; `status` approved | pending | new | rejected.
   */
  @Get(':slug/tools')
  @Roles('admin', 'auditor')
  tools(@Param('slug') slug: string) {
    const items = this.catalogue.list(slug);
    return { pinning: this.policy.pinningOf(slug), readOnlyReason: this.policy.readOnlyReason(slug), pending: this.catalogue.pendingCount(slug), items };
  }

  /** → the tool's catalogue item; 409 when it has no pending version. Allowed for config.yaml upstreams too: approvals are run-time state. */
  @Post(':slug/tools/:name/approve')
  @HttpCode(200)
  approve(@Param('slug') slug: string, @Param('name') name: string, @CurrentActor() actor: Actor) {
    return this.catalogue.approve(slug, name, actor);
  }

  /** → the tool's catalogue item; under quarantine the tool stays hidden while the upstream serves the rejected definition. */
  @Post(':slug/tools/:name/reject')
  @HttpCode(200)
  reject(@Param('slug') slug: string, @Param('name') name: string, @CurrentActor() actor: Actor) {
    return this.catalogue.reject(slug, name, actor);
  }

  private view(slug: string) {
    if (!this.upstreams.find(slug)) throw upstreamNotFound(slug);
    return { rules: this.policy.rulesOf(slug), pinning: this.policy.pinningOf(slug), readOnlyReason: this.policy.readOnlyReason(slug) };
  }
}
