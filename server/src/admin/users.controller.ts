import { Body, Delete, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import { Actor } from '../identity/actor';
import { FederatedUsersService } from '../identity/federation/federated-users.service';
import { Roles } from '../identity/roles.guard';
import { UsersService } from '../identity/users.service';
import { AdminApi, CurrentActor } from './admin-api';
import { pageOf, pageRequest } from './pagination';
import { UserAdminService } from './user-admin.service';
import { CreateUserDto, ListUsersQuery, UpdateUserDto } from './users.dto';
import { identityView, iso, userView } from './views';

/** /admin/api/users: admins manage accounts; auditors read them. */
@AdminApi('users')
export class UsersController {
  constructor(
    private readonly users: UsersService,
    private readonly admin: UserAdminService,
    private readonly federated: FederatedUsersService,
  ) {}

  /** `?limit&cursor&q&role&disabled` → `{ items: UserView[], nextCursor }`, in email order. */
  @Get()
  @Roles('admin', 'auditor')
  async list(@Query() query: ListUsersQuery) {
    const page = pageRequest(query);
    const rows = await this.users.list({ q: query.q, role: query.role, disabled: query.disabled }, { afterEmail: page.after?.[0] ?? null, limit: page.fetch });
    const federated = await this.federated.linkedAmong(rows.map((u) => u.id));
    return pageOf(
      rows,
      page.limit,
      (u) => [u.email],
      (u) => userView(u, { federated: federated.has(u.id) }),
    );
  }

  /** → `{ user: UserView, groups: [{id,name,source?}], identities: [{provider,subject,email,linkedAt,lastSignInAt}], activeGrants }` */
  @Get(':id')
  @Roles('admin', 'auditor')
  async get(@Param('id') id: string) {
    const { user, groups, identities, activeGrants } = await this.admin.detail(id);
    return { user: userView(user, { federated: identities.length > 0 }), groups, identities: identities.map(identityView), activeGrants };
  }

  /** `{ email, name?, role? }` → 201 `{ user, inviteUrl, expiresAt }`: the only response that ever holds the link. */
  @Post()
  async create(@Body() body: CreateUserDto, @CurrentActor() actor: Actor) {
    const { user, link } = await this.admin.create(body, actor);
    return { user: userView(user), inviteUrl: link.url, expiresAt: iso(link.expiresAt) };
  }

  /** → `{ inviteUrl, expiresAt, purpose }`; the old password, links and sign-in sessions stop working. */
  @Post(':id/reset-password')
  @HttpCode(200)
  async resetPassword(@Param('id') id: string, @CurrentActor() actor: Actor) {
    const link = await this.admin.resetPassword(id, actor);
    return { inviteUrl: link.url, expiresAt: iso(link.expiresAt), purpose: link.purpose };
  }

  /** `{ name?, role? }` → `{ user }`; 409 for taking the admin role from yourself or from the last enabled admin. */
  @Patch(':id')
  async update(@Param('id') id: string, @Body() body: UpdateUserDto, @CurrentActor() actor: Actor) {
    return { user: userView(await this.admin.update(id, body, actor)) };
  }

  /** → `{ user, grantsRevoked }` */
  @Post(':id/disable')
  @HttpCode(200)
  async disable(@Param('id') id: string, @CurrentActor() actor: Actor) {
    const { user, grantsRevoked } = await this.admin.disable(id, actor);
    return { user: userView(user), grantsRevoked };
  }

  /** → `{ user }` */
  @Post(':id/enable')
  @HttpCode(200)
  async enable(@Param('id') id: string, @CurrentActor() actor: Actor) {
    return { user: userView(await this.admin.enable(id, actor)) };
  }

  /** → 204 */
  @Delete(':id')
  @HttpCode(204)
  async remove(@Param('id') id: string, @CurrentActor() actor: Actor): Promise<void> {
    await this.admin.delete(id, actor);
  }
}
