import { Body, Get, HttpCode, Post, Req } from '@nestjs/common';
import type { Request } from 'express';
import { AuditService } from '../audit/audit.service';
import { Actor } from '../identity/actor';
import { CurrentUser } from '../identity/current-user';
import { LoginSessionService } from '../identity/login-session.service';
import { Roles } from '../identity/roles.guard';
import { User } from '../identity/user.entity';
import { UsersService } from '../identity/users.service';
import { AdminApi, CurrentActor } from './admin-api';
import { AdminCsrf } from './csrf';
import { ChangePasswordDto } from './users.dto';

/**
 * What every signed-in user (members too) needs from the console: who they are, the CSRF token
 * for their state-changing calls, and changing their own password. Signing out is the existing
 * form POST /logout.
 */
@AdminApi('')
export class SessionController {
  constructor(
    private readonly csrf: AdminCsrf,
    private readonly users: UsersService,
    private readonly sessions: LoginSessionService,
    private readonly audit: AuditService,
  ) {}

  /** → `{ user: {id,email,name,role}, csrfToken }` */
  @Get('session')
  @Roles('member')
  session(@CurrentUser() user: User, @Req() req: Request) {
    return { user: { id: user.id, email: user.email, name: user.displayName, role: user.role }, csrfToken: this.csrf.tokenFor(req) };
  }

  /** `{currentPassword, newPassword}` → 204. The user's other sessions end; this one stays. */
  @Post('me/password')
  @Roles('member')
  @HttpCode(204)
  async changePassword(@Body() body: ChangePasswordDto, @CurrentActor() actor: Actor, @Req() req: Request): Promise<void> {
    await this.users.changePassword(actor.userId, body.currentPassword, body.newPassword);
    await this.sessions.endAllFor(actor.userId, req);
    this.audit.record({ type: 'user.password.change', outcome: 'success', userId: actor.userId, ip: actor.ip });
  }
}
