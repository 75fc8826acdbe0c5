import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { LoginSession } from './login-session.entity';
import { LoginSessionService } from './login-session.service';
import { LoginController } from './login.controller';
import { PasswordAuthGuard } from './password-auth.guard';
import { User } from './user.entity';
import { UsersService } from './users.service';

@Module({
  imports: [TypeOrmModule.forFeature([User, LoginSession])],
  controllers: [LoginController],
  providers: [UsersService, LoginSessionService, PasswordAuthGuard],
  exports: [UsersService, LoginSessionService],
})
export class IdentityModule {}
