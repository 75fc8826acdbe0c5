import { Module } from '@nestjs/common';
import { BundleModule } from '../bundle/bundle.module';
import { IdentityModule } from '../identity/identity.module';
import { OAuthModule } from '../oauth/oauth.module';
import { UpstreamsModule } from '../upstreams/upstreams.module';
import { VaultModule } from '../vault/vault.module';
import { AuditController } from './audit.controller';
import { BundlesController } from './bundles.controller';
import { ClientsController } from './clients.controller';
import { AdminCsrf, AdminCsrfGuard } from './csrf';
import { GrantViews } from './grant-views';
import { GrantsController } from './grants.controller';
import { DashboardController } from './dashboard.controller';
import { DoctorController } from './doctor.controller';
import { DoctorModule } from '../doctor/doctor.module';
import { GroupAdminService } from './group-admin.service';
import { GroupsController } from './groups.controller';
import { MeController } from './me.controller';
import { MyAccessService } from './my-access.service';
import { SessionController } from './session.controller';
import { SettingsController } from './settings.controller';
import { UserAdminService } from './user-admin.service';
import { UpstreamsController } from './upstreams.controller';
import { ToolPolicyController } from './tool-policy.controller';
import { ToolPolicyModule } from '../tool-policy/tool-policy.module';
import { UsersController } from './users.controller';
import { IdentityProvidersController } from './identity-providers.controller';

/**
 * The admin API under /admin/api (issue 10): one thin controller per resource, each declared with
 * `@AdminApi()` (session, roles, CSRF, validation, no-store, the admin rate limit). Controllers
 * parse and validate; the services of identity/, oauth/ and upstreams/ do the work, and the
 * *-admin services here join them where an action spans modules.
 */
@Module({
  imports: [IdentityModule, OAuthModule, UpstreamsModule, VaultModule, DoctorModule, ToolPolicyModule, BundleModule],
  controllers: [
    SessionController,
    UsersController,
    GroupsController,
    UpstreamsController,
    ToolPolicyController,
    ClientsController,
    GrantsController,
    MeController,
    SettingsController,
    IdentityProvidersController,
    AuditController,
    DashboardController,
    DoctorController,
    BundlesController,
  ],
  providers: [AdminCsrf, AdminCsrfGuard, UserAdminService, GroupAdminService, GrantViews, MyAccessService],
})
export class AdminModule {}
