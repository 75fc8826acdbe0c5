import { Get, Query } from '@nestjs/common';
import { DashboardFigures, DashboardService, ToolFigures } from '../audit/dashboard.service';
import { Roles } from '../identity/roles.guard';
import { UpstreamsService } from '../upstreams/upstreams.service';
import { AdminApi } from './admin-api';
import { DashboardQuery, ToolFiguresQuery } from './audit.dto';

/** /admin/api/dashboard: traffic, errors and latency per upstream, sign-in failures, active grants. */
@AdminApi('dashboard')
export class DashboardController {
  constructor(
    private readonly dashboard: DashboardService,
    private readonly upstreams: UpstreamsService,
  ) {}

  /** `?range=24h|7d` (default 24h) → the figures, per upstream with its name. */
  @Get()
  @Roles('admin', 'auditor')
  figures(@Query() query: DashboardQuery): Promise<DashboardFigures> {
    return this.dashboard.figures(
      query.range ?? '24h',
      this.upstreams.list().map((u) => ({ slug: u.slug, name: u.name })),
    );
  }

  /**
   * `?window=1h|24h|7d&upstream=<slug>&limit` → `{ items: [{ upstream, tool, calls, errors, p50Ms,
   * p95Ms }] }`, most called first (from the per-tool rollups, never the audit log). Also the
   * audit page's tool suggestions.
   */
  @Get('tools')
  @Roles('admin', 'auditor')
  async tools(@Query() query: ToolFiguresQuery): Promise<{ items: ToolFigures[] }> {
    return { items: await this.dashboard.tools(query.window ?? '24h', { upstream: query.upstream, limit: query.limit ?? 50 }) };
  }
}
