import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UpstreamProbeService } from '../../server/src/upstreams/upstream-probe.service';
import { RunningUpstream, startUpstream } from '../fixtures/upstream-mcp-server';
import { runCli, spawnCli } from '../helpers/cli';
import { freePort, startTestGateway } from '../helpers/gateway';

/**
 * `gatehouse start` with a mistake in its environment: each stops the start with one line naming
 * what to fix, exit code 2, nothing retried and nothing created.
 */
describe('start-up checks', () => {
  let dir: string;
  let dataDir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-checks-'));
    dataDir = join(dir, 'data');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  async function start(env: Record<string, string>) {
    return runCli(['start'], { cwd: dir, env: { HOST: '127.0.0.1', DATA_DIR: dataDir, ...env } });
  }

  it('a bootstrap admin email that is not an email: exit 2 naming GATEHOUSE_ADMIN_EMAIL', async () => {
    const res = await start({ PORT: String(await freePort()), GATEHOUSE_ADMIN_EMAIL: 'admin-at-example.test', GATEHOUSE_ADMIN_PASSWORD: 'a long enough password' });
    expect(res).toEqual({ code: 2, stdout: '', stderr: 'gatehouse: invalid configuration: GATEHOUSE_ADMIN_EMAIL: must be an email address, not "admin-at-example.test"\n' });
    expect(existsSync(dataDir)).toBe(false);
  });

  it('a bootstrap admin password under 12 characters: exit 2 naming GATEHOUSE_ADMIN_PASSWORD (never the password)', async () => {
    const res = await start({ PORT: String(await freePort()), GATEHOUSE_ADMIN_EMAIL: 'admin@example.test', GATEHOUSE_ADMIN_PASSWORD: 'short-pw1' });
    expect(res).toEqual({ code: 2, stdout: '', stderr: 'gatehouse: invalid configuration: GATEHOUSE_ADMIN_PASSWORD: must be at least 12 characters long (it has 9)\n' });
    expect(existsSync(dataDir)).toBe(false);
  });

  it('PORT=abc: exit 2 naming PORT', async () => {
    const res = await start({ PORT: 'abc' });
    expect(res).toEqual({ code: 2, stdout: '', stderr: 'gatehouse: invalid configuration: PORT: must be a port number from 0 to 65535, not "abc"\n' });
  });

  it('several mistakes at once are all named in one message', async () => {
    const file = join(dir, 'config.yaml');
    writeFileSync(file, 'server:\n  prot: 1\nupstreams:\n  - slug: Bad Slug\n    url: not-a-url\n');
    const res = await start({ PORT: '99999', GATEHOUSE_CONFIG: file });
    expect(res.code).toBe(2);
    expect(res.stderr).toBe(
      'gatehouse: invalid configuration (4 problems):\n' +
        '  PORT: must be a port number from 0 to 65535, not "99999"\n' +
        '  server.prot: unknown key\n' +
        '  upstreams[0].slug: must be lowercase letters, digits and dashes\n' +
        '  upstreams[0].url: must be a URL address\n',
    );
  });

  it('a data directory the process cannot write: one line with the path, the user id and the fix; no retries', async () => {
    mkdirSync(dataDir, { mode: 0o755 });
    // Root may write anywhere: run as an ordinary user, as the Docker image does (uid 1000).
    const asRoot = process.getuid!() === 0;
    if (asRoot) chmodSync(dir, 0o755);
    else chmodSync(dataDir, 0o555);
    const uid = asRoot ? 1000 : process.getuid!();
    const gid = asRoot ? 1000 : process.getgid!();
    const res = await runCli(['start'], { cwd: dir, uid, gid, env: { HOST: '127.0.0.1', PORT: String(await freePort()), DATA_DIR: dataDir } });
    expect(res).toEqual({
      code: 2,
      stdout: '',
      stderr: `gatehouse: data directory ${dataDir} is not writable by uid ${uid} (gid ${gid}); fix: chown -R ${uid}:${gid} ${dataDir}\n`,
    });
  });

  it('a port in use: one line, exit 2, and nothing created (the port is bound before the data directory)', async () => {
    const taken: Server = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as { port: number }).port;
    try {
      const res = await start({ PORT: String(port), GATEHOUSE_ADMIN_EMAIL: 'admin@example.test', GATEHOUSE_ADMIN_PASSWORD: 'a long enough password' });
      expect(res).toEqual({ code: 2, stdout: '', stderr: `gatehouse: port ${port} on 127.0.0.1 is already in use; stop what listens there or set PORT to a free port\n` });
      expect(existsSync(dataDir)).toBe(false);
    } finally {
      taken.close();
    }
  });

  describe('a good start', () => {
    let upstream: RunningUpstream;
    beforeAll(async () => (upstream = await startUpstream()));
    afterAll(() => upstream.close());

    it('logs "created admin", probes every upstream and shows the state of each', async () => {
      const deadPort = await freePort();
      const file = join(dir, 'config.yaml');
      writeFileSync(
        file,
        JSON.stringify({
          upstreams: [
            { slug: 'up', url: upstream.url },
            { slug: 'down', url: `http://127.0.0.1:${deadPort}/mcp` },
          ],
        }),
      );
      const port = await freePort();
      const gw = spawnCli(['start'], {
        cwd: dir,
        env: {
          HOST: '127.0.0.1',
          PORT: String(port),
          DATA_DIR: dataDir,
          GATEHOUSE_CONFIG: file,
          GATEHOUSE_ADMIN_EMAIL: 'Root@Example.test',
          GATEHOUSE_ADMIN_PASSWORD: 'a long enough password',
        },
      });
      try {
        const out = await gw.waitFor('upstream down is');
        expect(out).toContain('Gatehouse created admin root@example.test (password from GATEHOUSE_ADMIN_PASSWORD).\n');
        expect(out).not.toContain('a long enough password');
        expect(out).toMatch(/\n {2}upstream up is reachable \(HTTP \d{3} in \d+ ms\)\n/);
        expect(out).toContain(`\n  upstream down is UNREACHABLE at http://127.0.0.1:${deadPort}/mcp: connect ECONNREFUSED 127.0.0.1:${deadPort}; probed again every 60 s\n`);
        // The probe is a HEAD without credentials: nothing an MCP server would take for a session.
        expect(upstream.seen.filter((r) => r.headers['user-agent'] === 'Gatehouse upstream probe').map((r) => r.method)).toEqual(['HEAD']);
      } finally {
        expect(await gw.stop()).toBe(0);
      }
      // A second start finds the admin: nothing is created, nothing said about it.
      const again = spawnCli(['start'], { cwd: dir, env: { HOST: '127.0.0.1', PORT: String(await freePort()), DATA_DIR: dataDir, GATEHOUSE_CONFIG: file } });
      try {
        const out = await again.waitFor('upstream down is');
        expect(out).not.toContain('created admin');
      } finally {
        await again.stop();
      }
    });

    it('probes again on its interval: the state follows the upstream going down and coming back', async () => {
      const port = await freePort();
      let flaky = await startUpstream({ port });
      const gw = await startTestGateway({ config: { upstreams: [{ slug: 'flaky', url: flaky.url }] } });
      try {
        const probes = gw.app.get(UpstreamProbeService);
        expect(gw.probes).toEqual([
          { slug: 'flaky', url: flaky.url, reachable: true, lastProbeAt: expect.any(Number), latencyMs: expect.any(Number), status: expect.any(Number), probeError: null },
        ]);
        expect(probes.probeState('flaky')).toEqual(gw.probes[0]);
        expect(probes.probeState('unknown')).toBeUndefined();

        void probes.start(100);
        await flaky.close();
        await until(() => probes.probeState('flaky')?.reachable === false);
        expect(probes.probeState('flaky')).toMatchObject({ reachable: false, status: null, latencyMs: null, probeError: `connect ECONNREFUSED 127.0.0.1:${port}` });
        expect(probes.probeState('flaky')!.lastProbeAt).toBeGreaterThan(gw.probes[0].lastProbeAt);

        flaky = await startUpstream({ port });
        await until(() => probes.probeState('flaky')?.reachable === true);
        expect(probes.probeState('flaky')).toMatchObject({ reachable: true, probeError: null });
      } finally {
        await gw.close();
        await flaky.close();
        gw.cleanup();
      }
    });
  });
});

/** Waits (bounded) until the condition holds. */
async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}
