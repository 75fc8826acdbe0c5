import { Body, Delete, Get, HttpCode, Param, Patch, Post, Put, Query } from '@nestjs/common';
import { Actor } from '../identity/actor';
import { GroupsService } from '../identity/groups.service';
import { Roles } from '../identity/roles.guard';
import { AdminApi, CurrentActor } from './admin-api';
import { GroupAdminService } from './group-admin.service';
import { GroupNameDto } from './groups.dto';
import { pageOf, PageQuery, pageRequest } from './pagination';
import { groupView, userView } from './views';

/** /admin/api/groups: admins manage groups and their members; auditors read them. */
@AdminApi('groups')
export class GroupsController {
  constructor(
    private readonly groups: GroupsService,
    private readonly admin: GroupAdminService,
  ) {}

  /** `?limit&cursor` → `{ items: GroupView[], nextCursor }`, in name order. */
  @Get()
  @Roles('admin', 'auditor')
  async list(@Query() query: PageQuery) {
    const page = pageRequest(query);
    const rows = await this.groups.list({ afterName: page.after?.[0] ?? null, limit: page.fetch });
    return pageOf(rows, page.limit, (g) => [g.name], groupView);
  }

  /** → `{ group }` */
  @Get(':id')
  @Roles('admin', 'auditor')
  async get(@Param('id') id: string) {
    return { group: groupView(await this.groups.require(id)) };
  }

  /** `?limit&cursor` → `{ items: UserView[], nextCursor }`, in email order. */
  @Get(':id/members')
  @Roles('admin', 'auditor')
  async members(@Param('id') id: string, @Query() query: PageQuery) {
    await this.groups.require(id);
    const page = pageRequest(query);
    const rows = await this.groups.membersOf(id, { afterEmail: page.after?.[0] ?? null, limit: page.fetch });
    return pageOf(rows, page.limit, (u) => [u.email], userView);
  }

  /** `{ name }` → 201 `{ group }`; 409 when the name is taken. */
  @Post()
  async create(@Body() body: GroupNameDto, @CurrentActor() actor: Actor) {
    return { group: groupView(await this.admin.create(body.name, actor)) };
  }

  /** `{ name }` → `{ group, warnings }`; allow-lists naming the group follow the new name. */
  @Patch(':id')
  async rename(@Param('id') id: string, @Body() body: GroupNameDto, @CurrentActor() actor: Actor) {
    const { group, warnings } = await this.admin.rename(id, body.name, actor);
    return { group: groupView(group), warnings };
  }

  /** → 204; 409 while an allow-list names the group. */
  @Delete(':id')
  @HttpCode(204)
  async remove(@Param('id') id: string, @CurrentActor() actor: Actor): Promise<void> {
    await this.admin.delete(id, actor);
  }

  /** → 204 (also when already a member). */
  @Put(':id/members/:userId')
  @HttpCode(204)
  async addMember(@Param('id') id: string, @Param('userId') userId: string, @CurrentActor() actor: Actor): Promise<void> {
    await this.admin.addMember(id, userId, actor);
  }

  /** → 204 (also when not a member). */
  @Delete(':id/members/:userId')
  @HttpCode(204)
  async removeMember(@Param('id') id: string, @Param('userId') userId: string, @CurrentActor() actor: Actor): Promise<void> {
    await this.admin.removeMember(id, userId, actor);
  }
}
