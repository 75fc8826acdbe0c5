import { Get } from '@nestjs/common';
import { ConfigService } from '../config/config.service';
import { Roles } from '../identity/roles.guard';
import { AdminApi } from './admin-api';

/**
 * /admin/api/identity-providers: the OpenID Connect providers users sign in through, and the local
 * password policy, for the console's Settings page. Read-only: providers are set in config.yaml
 * (identity_providers). The client secret is never returned, only that one is set.
 */
@AdminApi('identity-providers')
export class IdentityProvidersController {
  constructor(private readonly config: ConfigService) {}

  /** → `{ items: [{ id, name, issuer, clientId, scopes, groupsClaim, newUsers, allowedEmailDomains, callbackUrl, source, secretSet }], localPasswords, breakGlassEmail }` */
  @Get()
  @Roles('admin', 'auditor')
  list() {
    const auth = this.config.localAuth;
    return {
      items: this.config.identityProviders.map((p) => ({
        id: p.id,
        name: p.name,
        issuer: p.issuer,
        clientId: p.client_id,
        scopes: p.scopes,
        groupsClaim: p.groups_claim || null,
        newUsers: p.new_users,
        allowedEmailDomains: p.allowed_email_domains,
        callbackUrl: `${this.config.publicUrl}/login/oidc/${p.id}/callback`,
        source: 'config' as const,
        secretSet: !!p.client_secret,
      })),
      localPasswords: auth.local_passwords,
      breakGlassEmail: auth.local_passwords === 'break_glass' ? (auth.break_glass_email ?? null) : null,
    };
  }
}
