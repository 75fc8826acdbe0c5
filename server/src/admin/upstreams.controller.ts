import { Body, Delete, Get, HttpCode, Param, Patch, Post, Put, Query } from '@nestjs/common';
import { Actor } from '../identity/actor';
import { Roles } from '../identity/roles.guard';
import { DashboardService, UpstreamTraffic } from '../audit/dashboard.service';
import { GrantsService } from '../oauth/grants/grants.service';
import type { UpstreamView } from '../upstreams/upstream-view';
import { UpstreamAdminService } from '../upstreams/upstream-admin.service';
import { ToolCatalogueService } from '../tool-policy/tool-catalogue.service';
import { ToolPolicyService } from '../tool-policy/tool-policy.service';
import { AdminApi, CurrentActor } from './admin-api';
import { pageOf, PageQuery, pageRequest } from './pagination';
import { AllowListDto, CreateUpstreamDto, UpdateUpstreamDto } from './upstreams.dto';

/**
 * /admin/api/upstreams: admins add, edit, enable/disable, restrict, test and delete upstreams;
 * auditors read them. Upstreams of config.yaml are listed read-only (409 read_only on any change).
 */
@AdminApi('upstreams')
export class UpstreamsController {
  constructor(
    private readonly upstreams: UpstreamAdminService,
    private readonly grants: GrantsService,
    private readonly dashboard: DashboardService,
    private readonly toolPolicy: ToolPolicyService,
    private readonly toolCatalogue: ToolCatalogueService,
  ) {}

  /** `?limit&cursor` → `{ items: Upstream[], nextCursor }`, in slug order. */
  @Get()
  @Roles('admin', 'auditor')
  async list(@Query() query: PageQuery) {
    const page = pageRequest(query);
    const after = page.after?.[0] ?? null;
    const rows = (await this.upstreams.list()).filter((u) => after === null || u.slug > after).slice(0, page.fetch);
    const traffic = await this.traffic24h();
    return pageOf(
      rows,
      page.limit,
      (u) => [u.slug],
      (u) => this.withTools(withTraffic(u, traffic)),
    );
  }

  /** → `[{ mode, label, fields }]`: the console's form of each auth mode (from the mode strategies). */
  @Get('auth-modes')
  @Roles('admin', 'auditor')
  authModes() {
    return this.upstreams.authModeForms();
  }

  /** → Upstream */
  @Get(':slug')
  @Roles('admin', 'auditor')
  async get(@Param('slug') slug: string) {
    return this.withTools(withTraffic(await this.upstreams.get(slug), await this.traffic24h()));
  }

  /** `tools: { pinning, rules, pending }`: the tool policy at a glance (the console badges pending tool changes). */
  private withTools(view: UpstreamView): UpstreamView & { tools: { pinning: string; rules: number; pending: number } } {
    return {
      ...view,
      tools: { pinning: this.toolPolicy.pinningOf(view.slug), rules: this.toolPolicy.rulesOf(view.slug).length, pending: this.toolCatalogue.pendingCount(view.slug) },
    };
  }

  /** Requests, errors and p50/p95 per upstream over the last 24 h (whole hours), from the audit rollups (never the log itself). */
  private async traffic24h(): Promise<Map<string, UpstreamTraffic>> {
    return new Map((await this.dashboard.traffic('24h')).map((t) => [t.slug, t]));
  }

  /** → 201 Upstream; 409 conflict when the slug is taken. */
  @Post()
  async create(@Body() body: CreateUpstreamDto, @CurrentActor() actor: Actor) {
    const { toolPinning, ...upstream } = body;
    const created = await this.upstreams.create(upstream, actor);
    if (toolPinning) await this.toolPolicy.setPinning(created.slug, toolPinning, actor);
    return created;
  }

  /** → Upstream; omitted fields stay, a blank or omitted secret keeps the stored one. `toolPinning` sets the tool catalogue's mode. */
  @Patch(':slug')
  async update(@Param('slug') slug: string, @Body() body: UpdateUpstreamDto, @CurrentActor() actor: Actor) {
    const { toolPinning, ...upstream } = body;
    const updated = toolPinning && !Object.keys(upstream).length ? await this.upstreams.get(slug) : await this.upstreams.update(slug, upstream, actor);
    if (toolPinning) await this.toolPolicy.setPinning(slug, toolPinning, actor);
    return updated;
  }

  /** → Upstream */
  @Post(':slug/enable')
  @HttpCode(200)
  enable(@Param('slug') slug: string, @CurrentActor() actor: Actor) {
    return this.upstreams.setEnabled(slug, true, actor);
  }

  /** → Upstream; /mcp/<slug> answers 404 until it is enabled again (grants are kept). */
  @Post(':slug/disable')
  @HttpCode(200)
  disable(@Param('slug') slug: string, @CurrentActor() actor: Actor) {
    return this.upstreams.setEnabled(slug, false, actor);
  }

  /** `{ users, emails, emailDomains, groups }` → Upstream */
  @Put(':slug/allow')
  setAllow(@Param('slug') slug: string, @Body() body: AllowListDto, @CurrentActor() actor: Actor) {
    return this.upstreams.setAllow(slug, body, actor);
  }

  /**
   * → `{ processes: { state, running, pids, restarts, lastExit, lastExitAt, port?, stderr } | null }`:
   * a stdio or spawned upstream's processes (null for HTTP ones). Admins only: stderr may hold anything.
   */
  @Get(':slug/processes')
  @Roles('admin')
  processes(@Param('slug') slug: string) {
    return { processes: this.upstreams.processes(slug) };
  }

  /** → `{ ok: true, serverInfo, protocolVersion, tools } | { ok: false, stage, message }` (200 either way). */
  @Post(':slug/test')
  @HttpCode(200)
  test(@Param('slug') slug: string, @CurrentActor() actor: Actor) {
    return this.upstreams.test(slug, actor);
  }

  /**
   * → 204. Its grants are revoked first, so that a crash between the two leaves an upstream without
   * grants rather than live grants that a new upstream of the same slug would honour.
   */
  @Delete(':slug')
  @HttpCode(204)
  async remove(@Param('slug') slug: string, @CurrentActor() actor: Actor): Promise<void> {
    this.upstreams.assertDeletable(slug);
    await this.grants.revokeAllFor({ upstreamSlug: slug }, { reason: 'upstream deleted', ip: actor.ip });
    await this.upstreams.delete(slug, actor);
  }
}

function withTraffic(view: UpstreamView, traffic: Map<string, UpstreamTraffic>): UpstreamView {
  const t = traffic.get(view.slug);
  return { ...view, status: { ...view.status, requests24h: t?.requests ?? 0, errors24h: t?.errors ?? 0, p50Ms: t?.p50Ms ?? null, p95Ms: t?.p95Ms ?? null } };
}
