import { Get, Query } from '@nestjs/common';
import { DashboardFigures, DashboardService } from '../audit/dashboard.service';
import { Roles } from '../identity/roles.guard';
import { UpstreamsService } from '../upstreams/upstreams.service';
import { AdminApi } from './admin-api';
import { DashboardQuery } from './audit.dto';

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
}
