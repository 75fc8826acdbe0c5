import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adminApi, signInToConsole } from '../helpers/admin-api';
import { TestBrowser } from '../helpers/browser';
import { runCli, spawnCli } from '../helpers/cli';
import { freePort } from '../helpers/gateway';
import { mcpPost, obtainCode, pkce, registerPublicClient, tokenRequest } from '../helpers/raw-oauth';
import type { SpawnedGateway } from '../helpers/spawn-gateway';

const VERSION = (JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
const ADMIN = { email: 'root@example.test', password: 'the root password for tests' };
const PASSWORD = 'a password bob chose';
const REDIRECT = 'http://127.0.0.1:7792/cb';
const INVITE_LINK = /^ {2}(http:\/\/\S+\/invite\/[A-Za-z0-9_-]{43})$/m;

describe('the gatehouse command', () => {
  let dir: string;
  beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'gatehouse-cli-'))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('--help lists every command, every command has --help, --version prints the version; none of them starts anything', async () => {
    const env = { DATA_DIR: join(dir, 'help-data'), PORT: String(await freePort()), HOST: '127.0.0.1' };
    const help = await runCli(['--help'], { cwd: dir, env });
    expect(help.code).toBe(0);
    expect(help.stderr).toBe('');
    for (const command of ['start', 'user', 'config', 'backup [options] <file>', 'restore [options] <file>', 'vault']) expect(help.stdout).toContain(`\n  ${command} `);
    expect(help.stdout).toContain('Exit codes: 0 done; 1 failed; 2 bad usage, configuration or start-up check; 3 refused');

    const commands = [
      'start',
      'user',
      'user add',
      'user list',
      'user reset-password',
      'user promote',
      'user disable',
      'user enable',
      'config',
      'config check',
      'backup',
      'restore',
      'vault',
      'vault rotate',
    ];
    const helps = await Promise.all(commands.map((c) => runCli([...c.split(' '), '--help'], { cwd: dir, env })));
    helps.forEach((res, i) => {
      expect({ command: commands[i], code: res.code, usage: res.stdout.split('\n')[0].startsWith(`Usage: gatehouse ${commands[i]} `) }).toEqual({
        command: commands[i],
        code: 0,
        usage: true,
      });
    });
    expect(helps[1].stdout).toMatch(/add \[options\] <email>[\s\S]*list[\s\S]*reset-password[\s\S]*promote[\s\S]*disable[\s\S]*enable/);

    expect(await runCli(['--version'], { cwd: dir, env })).toEqual({ code: 0, stdout: `${VERSION}\n`, stderr: '' });
    expect(await runCli(['-V'], { cwd: dir, env })).toEqual({ code: 0, stdout: `${VERSION}\n`, stderr: '' });
    // main.js (the start entry point of old) with arguments is the same command: it starts nothing either.
    expect(await runCli(['--version'], { cwd: dir, env, main: true })).toEqual({ code: 0, stdout: `${VERSION}\n`, stderr: '' });
    expect((await runCli(['--help'], { cwd: dir, env, main: true })).stdout).toBe(help.stdout);
    // Nothing started: no data directory, no database.
    expect(existsSync(env.DATA_DIR)).toBe(false);
  });

  it('a wrong command line is one clear line and exit 2', async () => {
    expect(await runCli(['nope'], { cwd: dir })).toEqual({ code: 2, stdout: '', stderr: "gatehouse: unknown command 'nope'\n" });
    expect(await runCli(['user', 'add'], { cwd: dir })).toEqual({ code: 2, stdout: '', stderr: "gatehouse: missing required argument 'email'\n" });
    expect(await runCli(['user', 'add', 'x@example.test', '--role', 'king'], { cwd: dir })).toEqual({
      code: 2,
      stdout: '',
      stderr: "gatehouse: option '--role <role>' argument 'king' is invalid. Allowed choices are admin, member, auditor.\n",
    });
    expect(await runCli(['user', 'add', 'not-an-email'], { cwd: dir })).toEqual({ code: 2, stdout: '', stderr: 'gatehouse: "not-an-email" is not an email address\n' });
    expect(await runCli(['start', 'now'], { cwd: dir })).toEqual({ code: 2, stdout: '', stderr: "gatehouse: too many arguments for 'start'. Expected 0 arguments but got 1.\n" });
  });

  describe('config check', () => {
    it('names every bad key at once, exit 2', async () => {
      const file = join(dir, 'bad.yaml');
      writeFileSync(
        file,
        [
          'server:',
          '  port: 99999',
          '  colour: blue',
          'oauth:',
          '  authorization_code_ttl: 3600',
          'upstreams:',
          '  - slug: notes',
          '    url: not-a-url',
          '    auth:',
          '      mode: headers',
          '      headers:',
          '        X-Api-Key: ${NOTES_KEY}',
          '  - slug: notes',
          '    url: http://127.0.0.1:1/mcp',
          '    auth:',
          '      mode: magic',
          '',
        ].join('\n'),
      );
      const res = await runCli(['config', 'check', file], { cwd: dir, env: { GATEHOUSE_ADMIN_PASSWORD: 'short' } });
      expect(res.code).toBe(2);
      expect(res.stdout).toBe('');
      const lines = res.stderr.trimEnd().split('\n');
      expect(lines[0]).toBe('gatehouse: invalid configuration (8 problems):');
      expect(lines.slice(1).sort()).toEqual(
        [
          '  GATEHOUSE_ADMIN_PASSWORD: must be at least 12 characters long (it has 5)',
          '  oauth.authorization_code_ttl: must not be greater than 600',
          '  server.colour: unknown key',
          '  server.port: must not be greater than 65535',
          '  upstreams[0].auth.headers.X-Api-Key: references environment variable NOTES_KEY, which is not set',
          '  upstreams[0].url: must be a URL address',
          '  upstreams[1].auth.mode: must be one of: none, headers, user_credentials, oauth',
          '  upstreams[1].slug: duplicate slug "notes"',
        ].sort(),
      );
    });

    it('prints the effective configuration with secrets masked, exit 0', async () => {
      const file = join(dir, 'good.yaml');
      writeFileSync(
        file,
        [
          'upstreams:',
          '  - slug: notes',
          '    url: http://127.0.0.1:1/mcp',
          '    auth:',
          '      mode: headers',
          '      headers:',
          '        X-Api-Key: literal-header-secret',
          '        X-Team: ${TEAM}',
          '  - slug: tracker',
          '    url: http://127.0.0.1:2/mcp',
          '    auth:',
          '      mode: oauth',
          '      oauth:',
          '        client_id: gatehouse',
          '        client_secret: literal-client-secret',
          '        token_endpoint: http://127.0.0.1:2/token',
          '',
        ].join('\n'),
      );
      const res = await runCli(['config', 'check', file], { cwd: dir, env: { TEAM: 'team-from-env', PORT: '9123' } });
      expect(res.stderr).toBe('');
      expect(res.code).toBe(0);
      expect(res.stdout.split('\n')[0]).toBe(`# Configuration OK (from ${file}); the effective settings, secrets masked:`);
      expect(res.stdout).toContain(`# public URL: http://localhost:9123; data directory: ${join(dir, 'data')}`);
      expect(res.stdout).toContain('  port: 9123\n');
      expect(res.stdout).toContain('        X-Api-Key: "********"\n');
      expect(res.stdout).toContain('        X-Team: "********"\n');
      expect(res.stdout).toContain('        client_id: gatehouse\n');
      expect(res.stdout).toContain('        client_secret: "********"\n');
      expect(res.stdout).toContain('        token_endpoint: http://127.0.0.1:2/token\n');
      expect(res.stdout).toContain('  access_token_ttl: 3600\n'); // defaults are shown too
      for (const secret of ['literal-header-secret', 'team-from-env', 'literal-client-secret']) expect(res.stdout).not.toContain(secret);
    });
  });

  describe('against a gateway on its data directory', () => {
    let dataDir: string;
    let port: number;
    let base: string;
    let gateway: SpawnedGateway | null = null;
    let env: Record<string, string>;
    /** Bob's grant, from before the backup. */
    let bobGrant: { refresh_token: string; clientId: string };

    const startGateway = async (dataDirectory = dataDir) => {
      gateway = spawnCli(['start'], { cwd: dir, env: { ...env, DATA_DIR: dataDirectory } });
      await gateway.waitFor('Gatehouse listening');
      return gateway;
    };
    const stopGateway = async () => {
      expect(await gateway!.stop()).toBe(0);
      gateway = null;
    };
    const cli = (args: string[], extra: Record<string, string> = {}) => runCli(args, { cwd: dir, env: { ...env, ...extra } });
    const signIn = async (creds: { email: string; password: string }) => {
      const browser = new TestBrowser();
      return (await browser.submit(await browser.get(`${base}/login`), creds)).status;
    };
    /** A whole authorization of the demo upstream: the token response. */
    const authorize = async (creds: { email: string; password: string }) => {
      const client = await registerPublicClient(base, REDIRECT);
      const { verifier, challenge } = pkce();
      const code = await obtainCode(base, new TestBrowser(), creds, { clientId: client.client_id, redirectUri: REDIRECT, challenge });
      const res = await tokenRequest(base, { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT, client_id: client.client_id });
      expect(res.status).toBe(200);
      return { ...(res.json as { access_token: string; refresh_token: string }), clientId: client.client_id };
    };

    beforeAll(async () => {
      dataDir = join(dir, 'data');
      port = await freePort();
      base = `http://127.0.0.1:${port}`;
      // The demo upstream, and rate limits that let the tests make token calls in a loop.
      const config = join(dir, 'gateway.yaml');
      writeFileSync(
        config,
        JSON.stringify({
          demo_upstream: true,
          upstreams: [{ slug: 'demo', url: `http://127.0.0.1:${port}/_demo/mcp` }],
          rate_limit: { oauth_per_minute: 10_000, login_per_minute: 10_000 },
        }),
      );
      env = {
        GATEHOUSE_CONFIG: config,
        HOST: '127.0.0.1',
        PORT: String(port),
        PUBLIC_URL: base,
        DATA_DIR: dataDir,
        GATEHOUSE_ADMIN_EMAIL: ADMIN.email,
        GATEHOUSE_ADMIN_PASSWORD: ADMIN.password,
      };
      await startGateway();
    });
    afterAll(async () => {
      await gateway?.stop();
    });

    it('user add prints an invite link that lets the user set a password and sign in', async () => {
      const res = await cli(['user', 'add', 'Bob@Example.test', '--name', 'Bob']);
      expect(res.stderr).toBe('');
      expect(res.code).toBe(0);
      expect(res.stdout).toMatch(/^Created member bob@example\.test\.\nInvite link for bob@example\.test, valid until \d{4}-\d\d-\d\d \d\d:\d\d UTC, usable once/);
      const link = INVITE_LINK.exec(res.stdout)![1];
      expect(link.startsWith(`${base}/invite/`)).toBe(true);
      expect(await signIn({ email: 'bob@example.test', password: PASSWORD })).toBe(401);

      const browser = new TestBrowser();
      const page = await browser.get(link);
      expect(page.status).toBe(200);
      expect(page.body).toContain('bob@example.test');
      expect((await browser.submit(page, { password: PASSWORD, confirm: PASSWORD })).status).toBe(303);
      expect(await signIn({ email: 'bob@example.test', password: PASSWORD })).toBe(303);

      const again = await cli(['user', 'add', 'bob@example.test']);
      expect(again).toEqual({
        code: 1,
        stdout: '',
        stderr: 'gatehouse: a user with the email bob@example.test already exists; for a new link: gatehouse user reset-password bob@example.test\n',
      });

      const list = await cli(['user', 'list', '--json']);
      expect(list.code).toBe(0);
      expect(JSON.parse(list.stdout)).toEqual([
        { id: expect.any(String), email: 'bob@example.test', name: 'Bob', role: 'member', status: 'active', lastLoginAt: expect.any(String) },
        { id: expect.any(String), email: ADMIN.email, name: null, role: 'admin', status: 'active', lastLoginAt: null },
      ]);
      const table = await cli(['user', 'list']);
      expect(table.stdout.split('\n')[0]).toMatch(/^EMAIL\s+ROLE\s+STATUS\s+LAST SIGN-IN\s+NAME\s+ID$/);
      expect(table.stdout).toMatch(/\nbob@example\.test\s+member\s+active\s+\d{4}-/);
    });

    it('user reset-password voids the password at once and prints a link that sets a new one', async () => {
      const res = await cli(['user', 'reset-password', 'bob@example.test']);
      expect(res.code).toBe(0);
      expect(res.stdout).toMatch(
        /^The password of bob@example\.test is void and every sign-in session of theirs has ended\.\nPassword reset link for bob@example\.test, valid until /,
      );
      expect(await signIn({ email: 'bob@example.test', password: PASSWORD })).toBe(401);

      const browser = new TestBrowser();
      const newPassword = `${PASSWORD} again`;
      expect((await browser.submit(await browser.get(INVITE_LINK.exec(res.stdout)![1]), { password: newPassword, confirm: newPassword })).status).toBe(303);
      expect(await signIn({ email: 'bob@example.test', password: newPassword })).toBe(303);
      const unknown = await cli(['user', 'reset-password', 'nobody@example.test']);
      expect(unknown).toEqual({ code: 1, stdout: '', stderr: 'gatehouse: no user "nobody@example.test"; `gatehouse user list` shows them all\n' });
    });

    it('user promote makes an admin, which the running gateway honours at once', async () => {
      const bob = { email: 'bob@example.test', password: `${PASSWORD} again` };
      const before = adminApi(base, await signInToConsole(base, bob));
      expect((await before('GET', '/users')).status).toBe(403);

      const res = await cli(['user', 'promote', 'bob@example.test']);
      expect(res).toEqual({ code: 0, stdout: 'bob@example.test is now an admin (was member).\n', stderr: '' });
      expect((await before('GET', '/users')).status).toBe(200);
      expect((await cli(['user', 'promote', 'bob@example.test'])).stdout).toBe('bob@example.test is already an admin.\n');
      bobGrant = await authorize(bob);
    });

    it('disable, enable, restore and vault rotate are refused while the gateway runs: exit 3, naming its pid', async () => {
      const pid = gateway!.proc.pid;
      const running = `a gateway (pid ${pid}) is running on data directory ${dataDir} (see ${join(dataDir, 'gatehouse.lock')})`;
      const instead = 'them in the admin console (Users), which takes effect at once, or stop the gateway first (its token cache would not see a change made here)';
      expect(await cli(['user', 'disable', 'bob@example.test'])).toEqual({
        code: 3,
        stdout: '',
        stderr: `gatehouse: refusing to disable a user: ${running}; disable ${instead}\n`,
      });
      expect(await cli(['user', 'enable', 'bob@example.test'])).toEqual({ code: 3, stdout: '', stderr: `gatehouse: refusing to enable a user: ${running}; enable ${instead}\n` });
      const backup = join(dir, 'refused.db');
      expect((await cli(['backup', backup])).code).toBe(0);
      expect(await cli(['restore', backup])).toEqual({
        code: 3,
        stdout: '',
        stderr: `gatehouse: refusing to restore: ${running}; stop the gateway first (e.g. docker compose stop gatehouse), then restore\n`,
      });
      expect(await cli(['vault', 'rotate'])).toEqual({
        code: 3,
        stdout: '',
        stderr: `gatehouse: refusing to rotate the vault master key: ${running}; stop the gateway first (e.g. docker compose stop gatehouse, then docker compose run --rm gatehouse gatehouse vault rotate)\n`,
      });
      // Without the lock file (say, deleted by hand, or a gateway in another container), the open database still tells.
      rmSync(join(dataDir, 'gatehouse.lock'));
      const restore = await cli(['restore', backup]);
      expect(restore.code).toBe(3);
      expect(restore.stderr).toBe(
        `gatehouse: refusing to restore: the database ${join(dataDir, 'gatehouse.db')} is open in another process (a gateway running on data directory ${dataDir}?); stop the gateway first (e.g. docker compose stop gatehouse), then restore\n`,
      );
      expect((await cli(['vault', 'rotate'])).code).toBe(3);
      // Nothing was touched: the gateway still serves bob.
      expect(await signIn({ email: 'bob@example.test', password: `${PASSWORD} again` })).toBe(303);
    });

    it('backup while the gateway serves token calls; restored into a fresh data directory, a gateway there accepts the old refresh token', async () => {
      const admin = await authorize(ADMIN);
      // Traffic during the backup: refresh-token rotations (each a write transaction) and proxied MCP calls.
      const busy = await authorize(ADMIN);
      let refresh = busy.refresh_token;
      const statuses: number[] = [];
      let stop = false;
      const traffic = (async () => {
        while (!stop) {
          const res = await tokenRequest(base, { grant_type: 'refresh_token', refresh_token: refresh, client_id: busy.clientId });
          statuses.push(res.status);
          if (res.status !== 200) break;
          refresh = res.json.refresh_token;
          statuses.push((await mcpPost(`${base}/mcp/demo`, res.json.access_token)).status);
        }
      })();
      const file = join(dir, 'backup.db');
      const backedUp = await cli(['backup', file]);
      stop = true;
      await traffic;
      expect(backedUp.stderr).toBe('');
      expect(backedUp.code).toBe(0);
      const keyId = /key id ([0-9a-f]+)/.exec(backedUp.stdout)![1];
      expect(backedUp.stdout).toMatch(new RegExp(`^Backed up ${dataDir}/gatehouse\\.db to ${file} \\(\\d+ KiB; 2 user\\(s\\), 1 upstream\\(s\\), \\d+ live grant\\(s\\)\\)\\.\n`));
      expect(backedUp.stdout).toContain(
        `Reminder: the backup does not contain the vault's master key (key id ${keyId}), and is useless without it: a gateway restored from it needs the same key to start and to read the upstream secrets. Keep a copy of ${join(dataDir, 'master.key')} with the backup, stored apart from it.\n`,
      );
      expect(statuses.length).toBeGreaterThan(0);
      expect(statuses.filter((s) => s !== 200)).toEqual([]);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(readdirSync(dir).filter((f) => f.includes('backup.db'))).toEqual(['backup.db']); // no -wal, -shm or partial file beside it
      expect(await cli(['backup', file])).toEqual({ code: 1, stdout: '', stderr: `gatehouse: ${file} already exists; choose another file or pass --force to overwrite it\n` });

      await stopGateway();
      const fresh = join(dir, 'fresh-data');
      const restored = await cli(['restore', file, '--data-dir', fresh]);
      expect(restored.stderr).toBe('');
      expect(restored.code).toBe(0);
      expect(restored.stdout).toMatch(new RegExp(`^Restored ${file} into ${fresh}/gatehouse\\.db \\(2 user\\(s\\), 1 upstream\\(s\\), \\d+ live grant\\(s\\)\\)\\.\n`));
      expect(restored.stdout).toContain(
        `Warning: no master key here; the restored vault needs key id ${keyId}: put the key the backup was made with in ${join(fresh, 'master.key')} (mode 0600)`,
      );
      copyFileSync(join(dataDir, 'master.key'), join(fresh, 'master.key'));

      await startGateway(fresh);
      const refreshed = await tokenRequest(base, { grant_type: 'refresh_token', refresh_token: admin.refresh_token, client_id: admin.clientId });
      expect(refreshed.status).toBe(200);
      expect((await mcpPost(`${base}/mcp/demo`, refreshed.json.access_token)).status).toBe(200);
      expect(await signIn({ email: 'bob@example.test', password: `${PASSWORD} again` })).toBe(303);

      // Restoring over a database keeps the old one beside it; a file that is not a Gatehouse database is refused.
      await stopGateway();
      const over = await cli(['restore', file, '--data-dir', fresh]);
      expect(over.code).toBe(0);
      expect(over.stdout).toContain(`The master key in ${join(fresh, 'master.key')} matches the restored vault (key id ${keyId}).`);
      expect(over.stdout).toMatch(new RegExp(`The previous database is kept as ${fresh}/gatehouse\\.db\\.before-restore-`));
      const junk = join(dir, 'junk.db');
      writeFileSync(junk, 'not a database at all, just some text that is long enough to be read as a header');
      expect(await cli(['restore', junk, '--data-dir', fresh])).toEqual({
        code: 1,
        stdout: '',
        stderr: `gatehouse: ${junk} is not a Gatehouse database (file is not a database)\n`,
      });
      // The next test works on the restored data directory.
      dataDir = env.DATA_DIR = fresh;
    });

    it('with the gateway stopped: user disable revokes the grants; vault rotate re-encrypts; the gateway starts with both', async () => {
      const disabled = await cli(['user', 'disable', 'bob@example.test']);
      expect(disabled).toEqual({ code: 0, stdout: 'bob@example.test is disabled: 1 grant(s) revoked, every sign-in session ended.\n', stderr: '' });
      const rotated = await cli(['vault', 'rotate']);
      expect(rotated.code).toBe(0);
      expect(rotated.stdout).toContain(`The new key is in ${join(dataDir, 'master.key')}.`);

      await startGateway();
      const refused = await tokenRequest(base, { grant_type: 'refresh_token', refresh_token: bobGrant.refresh_token, client_id: bobGrant.clientId });
      expect(refused.status).toBe(400);
      expect(refused.json.error).toBe('invalid_grant');
      expect(await signIn({ email: 'bob@example.test', password: `${PASSWORD} again` })).toBe(401);
      expect(await signIn(ADMIN)).toBe(303);
    });
  });
});
