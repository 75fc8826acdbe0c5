import { Module } from '@nestjs/common';
import { PassportModule } from '@nestjs/passport';
import { TypeOrmModule } from '@nestjs/typeorm';
import { LoginSession } from './login-session.entity';
import { LoginSessionService } from './login-session.service';
import { LoginController } from './login.controller';
import { PasswordStrategy } from './password.strategy';
import { User } from './user.entity';
import { UsersService } from './users.service';

@Module({
  imports: [TypeOrmModule.forFeature([User, LoginSession]), PassportModule],
  controllers: [LoginController],
  providers: [UsersService, LoginSessionService, PasswordStrategy],
  exports: [UsersService, LoginSessionService],
})
export class IdentityModule {}
