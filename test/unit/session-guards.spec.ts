import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import 'reflect-metadata';
import { Controller, DynamicModule, Get, INestApplication, Module, Post, UseGuards } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import cookieParser from 'cookie-parser';
import { AuditModule } from '../../server/src/audit/audit.module';
import { loadConfig, LoadedConfig } from '../../server/src/config/config.loader';
import { ConfigModule } from '../../server/src/config/config.module';
import { DatabaseModule } from '../../server/src/database/database.module';
import { CurrentUser } from '../../server/src/identity/current-user';
import { IdentityModule } from '../../server/src/identity/identity.module';
import { LoginSessionService } from '../../server/src/identity/login-session.service';
import { Roles } from '../../server/src/identity/roles.guard';
import { hasRole, rolesOf } from '../../server/src/identity/roles';
import { BrowserPage, OptionalSession, SessionGuard } from '../../server/src/identity/session.guard';
import { User } from '../../server/src/identity/user.entity';
import { UsersService } from '../../server/src/identity/users.service';
import { PagesModule } from '../../server/src/pages/pages.module';
import { freePort } from '../helpers/gateway';

/*
 * No real route needs a session yet (the admin API will); these probe routes, defined here and
 * not in server/src, use the guards exactly as such a route would.
 */
@Controller('probe')
class ProbeController {
  @Get('api')
  @UseGuards(SessionGuard)
  api(@CurrentUser() user: User) {
    return { email: user.email };
  }

  @Get('page')
  @UseGuards(SessionGuard)
  @BrowserPage()
  page(@CurrentUser() user: User) {
    return { email: user.email };
  }

  @Post('page')
  @UseGuards(SessionGuard)
  @BrowserPage()
  postPage() {
    return { posted: true };
  }

  @Get('optional')
  @UseGuards(SessionGuard)
  @OptionalSession()
  optional(@CurrentUser() user: User | null) {
    return { email: user?.email ?? null };
  }

  @Get('admin')
  @Roles('admin')
  admin(@CurrentUser() user: User) {
    return { email: user.email };
  }

  @Get('members')
  @Roles('member')
  members(@CurrentUser() user: User) {
    return { email: user.email };
  }

  @Get('admin-page')
  @BrowserPage()
  @Roles('admin')
  adminPage() {
    return { ok: true };
  }

  @Get('forgot-the-guard')
  forgotTheGuard(@CurrentUser() user: User | null) {
    return { email: user?.email ?? null };
  }
}

/** Guards on the class and on the route, as the admin API will have them. */
@Controller('area')
@UseGuards(SessionGuard)
@Roles('admin')
class AdminAreaController {
  @Get()
  list(@CurrentUser() user: User) {
    return { email: user.email };
  }

  @Get('open')
  @Roles('member')
  open(@CurrentUser() user: User) {
    return { email: user.email };
  }
}

@Module({ imports: [IdentityModule], controllers: [ProbeController, AdminAreaController] })
class ProbeModule {}

@Module({})
class SessionTestModule {
  static register(config: LoadedConfig): DynamicModule {
    return { module: SessionTestModule, imports: [ConfigModule.register(config), DatabaseModule, AuditModule, PagesModule, ProbeModule] };
  }
}

const ADMIN = { email: 'admin@example.test', password: 'correct horse battery staple' };

describe('SessionGuard, @BrowserPage, @OptionalSession, @Roles and @CurrentUser', () => {
  let app: INestApplication;
  let dataDir: string;
  let base: string;
  let sessions: LoginSessionService;
  let adminCookie: string;
  let memberCookie: string;
  const savedEnv = { email: process.env.GATEHOUSE_ADMIN_EMAIL, password: process.env.GATEHOUSE_ADMIN_PASSWORD };

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-session-guards-'));
    const port = await freePort();
    const configFile = join(dataDir, 'config.yaml');
    writeFileSync(configFile, JSON.stringify({ server: { host: '127.0.0.1', port, data_dir: dataDir, public_url: `http://127.0.0.1:${port}` } }));
    const config = loadConfig({ ...process.env, GATEHOUSE_CONFIG: configFile, PORT: undefined, HOST: undefined, PUBLIC_URL: undefined, DATA_DIR: undefined });
    process.env.GATEHOUSE_ADMIN_EMAIL = ADMIN.email;
    process.env.GATEHOUSE_ADMIN_PASSWORD = ADMIN.password;
    app = await NestFactory.create(SessionTestModule.register(config), { logger: false });
    app.use(cookieParser());
    await app.listen(port, '127.0.0.1');
    base = `http://127.0.0.1:${port}`;
    const users = app.get(UsersService);
    sessions = app.get(LoginSessionService);
    adminCookie = `gh_session=${await sessions.start((await users.findByEmail(ADMIN.email))!.id)}`;
    const member = await users.create({ email: 'member@example.test', password: 'a member password of some length' });
    memberCookie = `gh_session=${await sessions.start(member.id)}`;
  });

  afterAll(async () => {
    await app?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    for (const [name, value] of [
      ['GATEHOUSE_ADMIN_EMAIL', savedEnv.email],
      ['GATEHOUSE_ADMIN_PASSWORD', savedEnv.password],
    ] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });

  async function get(path: string, cookie?: string, init: RequestInit = {}) {
    const res = await fetch(`${base}${path}`, { redirect: 'manual', ...init, headers: { ...(cookie ? { Cookie: cookie } : {}), ...(init.headers as Record<string, string>) } });
    const text = await res.text();
    const json = res.headers.get('content-type')?.includes('application/json') ? JSON.parse(text) : undefined;
    return { status: res.status, headers: res.headers, text, json };
  }

  describe('a JSON route (the default)', () => {
    it('answers 401 {"error":"unauthorized"} with a WWW-Authenticate challenge without a session', async () => {
      const res = await get('/probe/api');
      expect(res.status).toBe(401);
      expect(res.json).toEqual({ error: 'unauthorized' });
      expect(res.headers.get('www-authenticate')).toMatch(/^Cookie realm="gatehouse", form-action="\/login"/);
    });

    it('refuses an unknown or ended session the same way', async () => {
      expect((await get('/probe/api', 'gh_session=made-up')).status).toBe(401);
      const ended = `gh_session=${await sessions.start((await app.get(UsersService).findByEmail(ADMIN.email))!.id)}`;
      expect((await get('/probe/api', ended)).status).toBe(200);
      await sessions.endOf({ cookies: { gh_session: ended.slice('gh_session='.length) } } as never);
      expect((await get('/probe/api', ended)).status).toBe(401);
    });

    it('hands the signed-in user to @CurrentUser()', async () => {
      const res = await get('/probe/api', memberCookie);
      expect(res.status).toBe(200);
      expect(res.json).toEqual({ email: 'member@example.test' });
    });
  });

  describe('a @BrowserPage() route', () => {
    it('sends a browser without a session to sign in and back (302 after GET, 303 after POST)', async () => {
      const res = await get('/probe/page?x=1&y=%2F');
      expect(res.status).toBe(302);
      expect(res.headers.get('location')).toBe(`/login?return_to=${encodeURIComponent('/probe/page?x=1&y=%2F')}`);
      const posted = await get('/probe/page', undefined, { method: 'POST' });
      expect(posted.status).toBe(303);
      expect(posted.headers.get('location')).toBe('/login?return_to=%2Fprobe%2Fpage');
    });

    it('shows the page to a signed-in user', async () => {
      const res = await get('/probe/page', memberCookie);
      expect(res.status).toBe(200);
      expect(res.json).toEqual({ email: 'member@example.test' });
    });
  });

  it('an @OptionalSession() route lets everyone in and says who is signed in', async () => {
    expect((await get('/probe/optional')).json).toEqual({ email: null });
    expect((await get('/probe/optional', 'gh_session=made-up')).json).toEqual({ email: null });
    expect((await get('/probe/optional', memberCookie)).json).toEqual({ email: 'member@example.test' });
  });

  describe('@Roles()', () => {
    it('@Roles(\'admin\'): 401 without a session, 403 {"error":"forbidden"} for a member, 200 for an admin', async () => {
      expect((await get('/probe/admin')).status).toBe(401);
      const member = await get('/probe/admin', memberCookie);
      expect(member.status).toBe(403);
      expect(member.json).toEqual({ error: 'forbidden' });
      const admin = await get('/probe/admin', adminCookie);
      expect(admin.status).toBe(200);
      expect(admin.json).toEqual({ email: ADMIN.email });
    });

    it("@Roles('member') lets every signed-in user in, admins too", async () => {
      expect((await get('/probe/members', memberCookie)).status).toBe(200);
      expect((await get('/probe/members', adminCookie)).status).toBe(200);
      expect((await get('/probe/members')).status).toBe(401);
    });

    it('on a @BrowserPage() route: no session → sign in; the wrong role → 403', async () => {
      const anonymous = await get('/probe/admin-page');
      expect(anonymous.status).toBe(302);
      expect(anonymous.headers.get('location')).toBe('/login?return_to=%2Fprobe%2Fadmin-page');
      expect((await get('/probe/admin-page', memberCookie)).status).toBe(403);
      expect((await get('/probe/admin-page', adminCookie)).status).toBe(200);
    });

    it("a route's roles override its controller's, and the session is looked up once per request", async () => {
      const lookups = jest.spyOn(sessions, 'userOf');
      try {
        expect((await get('/area', memberCookie)).status).toBe(403);
        expect((await get('/area/open', memberCookie)).status).toBe(200);
        expect((await get('/area', adminCookie)).status).toBe(200);
        expect(lookups).toHaveBeenCalledTimes(3);
      } finally {
        lookups.mockRestore();
      }
    });

    it('reads roles from users.role; every user is a member as well', () => {
      expect(rolesOf({ role: 'admin' })).toEqual(['member', 'admin']);
      expect(rolesOf({ role: 'auditor' })).toEqual(['member', 'auditor']);
      expect(rolesOf({ role: 'member' })).toEqual(['member']);
      expect(hasRole({ role: 'member' }, 'admin')).toBe(false);
      expect(hasRole({ role: 'auditor' }, 'admin')).toBe(false);
      expect(hasRole(null, 'member')).toBe(false);
    });
  });

  describe('@CurrentUser() without SessionGuard fails loudly instead of reading as "signed out"', () => {
    it('as a 500 page for a browser, without the message or a stack', async () => {
      const res = await get('/probe/forgot-the-guard', adminCookie, { headers: { Accept: 'text/html' } });
      expect(res.status).toBe(500);
      expect(res.headers.get('content-type')).toContain('text/html');
      expect(res.text).toContain('<h1>Something went wrong</h1>');
      expect(res.text).not.toContain('SessionGuard');
      expect(res.text).not.toMatch(/\bat \S+ \(/);
    });

    it("as Nest's JSON 500 for everyone else", async () => {
      const res = await get('/probe/forgot-the-guard', adminCookie);
      expect(res.status).toBe(500);
      expect(res.json).toEqual({ statusCode: 500, message: 'Internal server error' });
    });
  });

  it('a 403 of @Roles on a browser page is a page; on a JSON route it stays JSON', async () => {
    const page = await get('/probe/admin-page', memberCookie, { headers: { Accept: 'text/html' } });
    expect(page.status).toBe(403);
    expect(page.text).toContain('Your account is not allowed to open this page.');
    const api = await get('/probe/admin', memberCookie, { headers: { Accept: 'application/json' } });
    expect(api.json).toEqual({ error: 'forbidden' });
  });
});
