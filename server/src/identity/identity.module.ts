import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { FederatedIdentity } from './federation/federated-identity.entity';
import { FederatedStrategies } from './federation/federated-strategies';
import { FederatedUsersService } from './federation/federated-users.service';
import { FederationController } from './federation/federation.controller';
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
  imports: [TypeOrmModule.forFeature([User, LoginSession, Group, GroupMember, InviteToken, FederatedIdentity])],
  controllers: [LoginController, InviteController, FederationController],
  providers: [UsersService, LoginSessionService, GroupsService, InvitesService, PasswordAuthGuard, FederatedUsersService, FederatedStrategies],
  exports: [UsersService, LoginSessionService, GroupsService, FederatedUsersService, FederatedStrategies],
})
export class IdentityModule {}
