import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import type { Request, Response } from 'express';
import passport from 'passport';
import { Strategy as CustomStrategy } from 'passport-custom';
import { formBody } from '../common/form-body';
import { User } from './user.entity';
import { UsersService } from './users.service';

/** What passport.authenticate() returns (typed `any` by @types/passport): a connect-style middleware. */
type PassportMiddleware = (req: unknown, res: Response, next: (err?: unknown) => void) => void;

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
      const { email, password } = formBody(req);
      if (typeof email !== 'string' || typeof password !== 'string' || !password) return done(null, false);
      users.verifyCredentials(email, password).then((user) => done(null, user ?? false), done);
    });
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const http = context.switchToHttp();
    const req = http.getRequest<{ user?: unknown; body?: unknown }>();
    const res = http.getResponse<Response>();
    const outcome = await new Promise<{ err: unknown } | { user: User | false }>((resolve) => {
      const authenticate = passport.authenticate(this.strategy, { session: false }, (err: unknown, user: User | false) => resolve(err ? { err } : { user })) as PassportMiddleware;
      authenticate(req, res, (err?: unknown) => resolve({ err }));
    });
    // Passport's error (a failed database read) as it came, for Nest's exception handling.
    if ('err' in outcome) throw outcome.err;
    req.user = outcome.user || null;
    return true;
  }
}
