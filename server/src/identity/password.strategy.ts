import { Injectable } from '@nestjs/common';
import { AuthGuard, PassportStrategy } from '@nestjs/passport';
import type { Request } from 'express';
import { Strategy } from 'passport-custom';
import { User } from './user.entity';
import { UsersService } from './users.service';

/** Email + password from the login form. */
@Injectable()
export class PasswordStrategy extends PassportStrategy(Strategy, 'password') {
  constructor(private readonly users: UsersService) {
    super();
  }

  async validate(req: Request): Promise<User | false> {
    const { email, password } = req.body ?? {};
    if (typeof email !== 'string' || typeof password !== 'string' || !password) return false;
    return (await this.users.verifyCredentials(email, password)) ?? false;
  }
}

/** Lets the controller answer a failed login with the form again instead of a 401 JSON body. */
@Injectable()
export class PasswordAuthGuard extends AuthGuard('password') {
  handleRequest<TUser>(err: unknown, user: TUser): TUser {
    if (err) throw err;
    return (user || null) as TUser;
  }
}
