import { Body, Delete, Get, HttpCode, Param, Post, Put, Query } from '@nestjs/common';
import { BundlesService } from '../bundle/bundles.service';
import { Actor } from '../identity/actor';
import { Roles } from '../identity/roles.guard';
import { AdminApi, CurrentActor } from './admin-api';
import { BundleCreateDto, BundleMembersDto } from './bundles.dto';
import { pageOf, PageQuery, pageRequest } from './pagination';

/** /admin/api/bundles: admins define named bundles (`/mcp/b/{name}`: a chosen set of upstreams); auditors read them. */
@AdminApi('bundles')
export class BundlesController {
  constructor(private readonly bundles: BundlesService) {}

  /** `?limit&cursor` → `{ items: BundleView[], nextCursor }`, in name order. */
  @Get()
  @Roles('admin', 'auditor')
  list(@Query() query: PageQuery) {
    const page = pageRequest(query);
    const rows = this.bundles.list({ afterName: page.after?.[0] ?? null, limit: page.fetch });
    return pageOf(
      rows,
      page.limit,
      (b) => [b.name],
      (b) => b,
    );
  }

  /** → `{ bundle }` */
  @Get(':name')
  @Roles('admin', 'auditor')
  get(@Param('name') name: string) {
    return { bundle: this.bundles.get(name) };
  }

  /** `{ name, upstreams }` → 201 `{ bundle }`; 409 when the name is taken, 400 naming an unknown upstream. */
  @Post()
  async create(@Body() body: BundleCreateDto, @CurrentActor() actor: Actor) {
    return { bundle: await this.bundles.create(body.name, body.upstreams, actor) };
  }

  /** `{ upstreams }` → `{ bundle }`; open sessions are told their lists changed. */
  @Put(':name')
  async update(@Param('name') name: string, @Body() body: BundleMembersDto, @CurrentActor() actor: Actor) {
    return { bundle: await this.bundles.update(name, body.upstreams, actor) };
  }

  /** → 204; its grants are revoked. */
  @Delete(':name')
  @HttpCode(204)
  async remove(@Param('name') name: string, @CurrentActor() actor: Actor): Promise<void> {
    await this.bundles.delete(name, actor);
  }
}
