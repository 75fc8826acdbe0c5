import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import type { Request, Response } from 'express';
import passport from 'passport';
import { Strategy as CustomStrategy } from 'passport-custom';
import { User } from './user.entity';
import { UsersService } from './users.service';

/**
 * Email + password from the login form, as a passport strategy. The strategy is an
 * instance owned by this guard rather than one registered by name on passport's global
 * registry, so several gateways in one process (tests, benchmarks) never share it.
 * A failed login sets req.user to null; the controller answers with the form again.
 */
@Injectable()
export class PasswordAuthGuard implements CanActivate {
  private readonly strategy: passport.Strategy;

  constructor(users: UsersService) {
    this.strategy = new CustomStrategy((req: Request, done) => {
      const { email, password } = req.body ?? {};
      if (typeof email !== 'string' || typeof password !== 'string' || !password) return done(null, false);
      users.verifyCredentials(email, password).then((user) => done(null, user ?? false), done);
    });
  }

  canActivate(context: ExecutionContext): Promise<boolean> {
    const http = context.switchToHttp();
    const req = http.getRequest<{ user?: unknown; body?: unknown }>();
    const res = http.getResponse<Response>();
    return new Promise((resolve, reject) => {
      passport.authenticate(this.strategy, { session: false }, (err: unknown, user: User | false) => {
        if (err) return reject(err);
        req.user = user || null;
        resolve(true);
      })(req, res, reject);
    });
  }
}
