import { Body, Delete, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { notFound } from '../common/api-errors';
import { Actor } from '../identity/actor';
import { Roles } from '../identity/roles.guard';
import { revokedByAdmin } from '../oauth/grants/grant-revocation';
import { GrantsService } from '../oauth/grants/grants.service';
import { AdminApi, CurrentActor } from './admin-api';
import { GrantViews } from './grant-views';
import { ListGrantsQuery, ownerOf, RevokeGrantsDto } from './grants.dto';
import { grantPage } from './grant-page';

/** /admin/api/grants: every grant, filtered by user, client or upstream; admins revoke them, auditors read. */
@AdminApi('grants')
export class GrantsController {
  constructor(
    private readonly grants: GrantsService,
    private readonly views: GrantViews,
  ) {}

  /** `?userId&clientId&upstream&active&limit&cursor` → `{ items: GrantView[], nextCursor }`, newest first. */
  @Get()
  @Roles('admin', 'auditor')
  list(@Query() query: ListGrantsQuery) {
    return grantPage(
      query,
      (page) => this.grants.listGrants({ userId: query.userId, clientId: query.clientId, upstreamSlug: query.upstream, active: query.active }, page),
      this.views,
    );
  }

  /** → 204 (also when it was revoked already). Its tokens are refused at once and its open streams cut. */
  @Delete(':id')
  @HttpCode(204)
  async revoke(@Param('id') id: string, @CurrentActor() actor: Actor): Promise<void> {
    const grant = await this.grants.findGrant(id);
    if (!grant) throw notFound('no such grant');
    await this.grants.revoke(
      id,
      revokedByAdmin(actor, 'admin.grant.revoke', { target_grant: id, target_user: grant.userId, client_id: grant.clientId, upstream: grant.upstreamSlug }),
    );
  }

  /** `{ userId } | { clientId } | { upstream }` → `{ revoked: n }`: every live grant of that user, client or upstream. */
  @Post('revoke')
  @HttpCode(200)
  async revokeAll(@Body() body: RevokeGrantsDto, @CurrentActor() actor: Actor) {
    const owner = ownerOf(body);
    const target = 'userId' in owner ? { target_user: owner.userId } : 'clientId' in owner ? { target_client: owner.clientId } : { upstream: owner.upstreamSlug };
    return { revoked: await this.grants.revokeAllFor(owner, revokedByAdmin(actor, 'admin.grant.revoke_all', target)) };
  }
}
