import { Body, Delete, Get, HttpCode, Param, Put, Query } from '@nestjs/common';
import { notFound } from '../common/api-errors';
import { Actor } from '../identity/actor';
import { Roles } from '../identity/roles.guard';
import { GrantsService } from '../oauth/grants/grants.service';
import { AdminApi, CurrentActor } from './admin-api';
import { grantPage } from './grant-page';
import { GrantViews } from './grant-views';
import { CredentialsDto, ListMyGrantsQuery } from './grants.dto';
import { MyAccessService } from './my-access.service';

/**
 * /admin/api/me: "My access" for every signed-in user (members too): the upstreams they may use,
 * their credentials there, and their own grants. Nothing here shows or touches another user's:
 * another user's grant id answers 404, as an unknown one.
 */
@AdminApi('me')
export class MeController {
  constructor(
    private readonly myAccess: MyAccessService,
    private readonly grants: GrantsService,
    private readonly views: GrantViews,
  ) {}

  /** → `{ items: [{ slug, name, mcpUrl, authMode, needsCredentials, hasCredentials, credentialFields }] }` */
  @Get('upstreams')
  @Roles('member')
  async upstreams(@CurrentActor() actor: Actor) {
    return { items: await this.myAccess.upstreamsOf(actor.userId) };
  }

  /** `{ values: { field: value } }` → 204; validated as on the consent page (400 naming `values.<field>`). */
  @Put('credentials/:slug')
  @Roles('member')
  @HttpCode(204)
  async saveCredentials(@Param('slug') slug: string, @Body() body: CredentialsDto, @CurrentActor() actor: Actor): Promise<void> {
    await this.myAccess.saveCredentials(actor.userId, slug, body.values);
  }

  /** → 204 */
  @Delete('credentials/:slug')
  @Roles('member')
  @HttpCode(204)
  async deleteCredentials(@Param('slug') slug: string, @CurrentActor() actor: Actor): Promise<void> {
    await this.myAccess.deleteCredentials(actor.userId, slug);
  }

  /** `?active&limit&cursor` → `{ items: GrantView[], nextCursor }`: the user's own grants, newest first. */
  @Get('grants')
  @Roles('member')
  grantsOf(@Query() query: ListMyGrantsQuery, @CurrentActor() actor: Actor) {
    return grantPage(query, (page) => this.grants.listGrants({ userId: actor.userId, active: query.active }, page), this.views);
  }

  /** → 204: revokes one of the user's own grants (its tokens stop, its streams are cut); 404 for any other. */
  @Delete('grants/:id')
  @Roles('member')
  @HttpCode(204)
  async revokeGrant(@Param('id') id: string, @CurrentActor() actor: Actor): Promise<void> {
    const grant = await this.grants.findGrant(id);
    if (grant?.userId !== actor.userId) throw notFound('no such grant');
    await this.grants.revoke(id, { reason: 'revoked by its user', ip: actor.ip, forgetConsent: true });
  }
}
