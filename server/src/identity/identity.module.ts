import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { PendingSignInsModule } from '../pending-sign-ins/pending-sign-ins.module';
import { VaultModule } from '../vault/vault.module';
import { FederatedIdentity } from './federation/federated-identity.entity';
import { FederatedStrategies } from './federation/federated-strategies';
import { FederatedUsersService } from './federation/federated-users.service';
import { FederationController } from './federation/federation.controller';
import { IdentityProviderRecord } from './federation/identity-provider-record.entity';
import { IdentityProvidersService } from './federation/identity-providers.service';
import { GroupMember } from './group-member.entity';
import { Group } from './group.entity';
import { GroupsService } from './groups.service';
import { InviteToken } from './invite-token.entity';
import { InviteController } from './invite.controller';
import { InvitesService } from './invites.service';
import { LoginSession } from './login-session.entity';
import { LoginSessionService } from './login-session.service';
import { LoginController } from './login.controller';
import { PasswordAuthGuard } from './password-auth.guard';
import { User } from './user.entity';
import { UsersService } from './users.service';

@Module({
  imports: [TypeOrmModule.forFeature([User, LoginSession, Group, GroupMember, InviteToken, FederatedIdentity, IdentityProviderRecord]), VaultModule, PendingSignInsModule],
  controllers: [LoginController, InviteController, FederationController],
  providers: [UsersService, LoginSessionService, GroupsService, InvitesService, PasswordAuthGuard, FederatedUsersService, FederatedStrategies, IdentityProvidersService],
  exports: [UsersService, LoginSessionService, GroupsService, FederatedUsersService, FederatedStrategies, IdentityProvidersService],
})
export class IdentityModule {}
