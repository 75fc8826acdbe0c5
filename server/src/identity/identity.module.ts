import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { GroupMember } from './group-member.entity';
import { Group } from './group.entity';
import { GroupsService } from './groups.service';
import { LoginSession } from './login-session.entity';
import { LoginSessionService } from './login-session.service';
import { LoginController } from './login.controller';
import { PasswordAuthGuard } from './password-auth.guard';
import { User } from './user.entity';
import { UsersService } from './users.service';

@Module({
  imports: [TypeOrmModule.forFeature([User, LoginSession, Group, GroupMember])],
  controllers: [LoginController],
  providers: [UsersService, LoginSessionService, GroupsService, PasswordAuthGuard],
  exports: [UsersService, LoginSessionService, GroupsService],
})
export class IdentityModule {}
