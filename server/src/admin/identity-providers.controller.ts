import { Body, Delete, Get, HttpCode, Param, Patch, Post } from '@nestjs/common';
import { ConfigService } from '../config/config.service';
import { Actor } from '../identity/actor';
import { IdentityProvider, IdentityProvidersService } from '../identity/federation/identity-providers.service';
import { Roles } from '../identity/roles.guard';
import { AdminApi, CurrentActor } from './admin-api';
import { CreateIdentityProviderDto, UpdateIdentityProviderDto } from './identity-providers.dto';

/**
 * /admin/api/identity-providers: the OpenID Connect providers users sign in through, and the local
 * password policy (Settings → Sign-in). Providers of config.yaml are read-only (409 read_only); admins
 * add, change and delete others here. The client secret is write-only: never returned, only whether
 * one is set. Audited as admin.identity_provider.{create,update,delete}.
 */
@AdminApi('identity-providers')
export class IdentityProvidersController {
  constructor(
    private readonly config: ConfigService,
    private readonly providers: IdentityProvidersService,
  ) {}

  /** → `{ items: IdentityProviderView[], localPasswords, breakGlassEmail }` */
  @Get()
  @Roles('admin', 'auditor')
  async list() {
    const auth = this.config.localAuth;
    const items = await this.providers.all();
    return {
      items: await Promise.all(items.map((p) => this.view(p))),
      localPasswords: auth.local_passwords,
      breakGlassEmail: auth.local_passwords === 'break_glass' ? (auth.break_glass_email ?? null) : null,
    };
  }

  /** → 201 IdentityProviderView */
  @Post()
  async create(@Body() body: CreateIdentityProviderDto, @CurrentActor() actor: Actor) {
    return this.view(await this.providers.create(body, actor));
  }

  /** → IdentityProviderView */
  @Patch(':id')
  async update(@Param('id') id: string, @Body() body: UpdateIdentityProviderDto, @CurrentActor() actor: Actor) {
    return this.view(await this.providers.update(id, body, actor));
  }

  @Delete(':id')
  @HttpCode(204)
  async delete(@Param('id') id: string, @CurrentActor() actor: Actor) {
    await this.providers.delete(id, actor);
  }

  private async view(p: IdentityProvider) {
    return {
      id: p.id,
      name: p.name,
      issuer: p.issuer,
      clientId: p.client_id,
      scopes: p.scopes,
      groupsClaim: p.groups_claim || null,
      newUsers: p.new_users,
      allowedEmailDomains: p.allowed_email_domains,
      callbackUrl: `${this.config.publicUrl}/login/oidc/${p.id}/callback`,
      source: p.source,
      readOnlyReason: p.source === 'config' ? 'managed by the config file' : null,
      secretSet: await this.providers.hasClientSecret(p),
    };
  }
}
