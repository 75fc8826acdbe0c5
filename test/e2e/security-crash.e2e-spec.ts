import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startUpstream, RunningUpstream } from '../fixtures/upstream-mcp-server';
import { TestBrowser } from '../helpers/browser';
import { ADMIN, freePort } from '../helpers/gateway';
import { mcpPost, obtainCode, pkce, registerPublicClient, tokenRequest } from '../helpers/raw-oauth';
import { spawnGateway, SpawnedGateway } from '../helpers/spawn-gateway';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const REDIRECT_URI = 'http://127.0.0.1:7777/cb';

/**
 * What survives `kill -9`: the gateway runs as its own process (its real entry point),
 * is killed with SIGKILL (no shutdown hook runs), and is started again on the same DATA_DIR.
 */
describe('security state across kill -9', () => {
  let upstream: RunningUpstream;
  let dir: string;
  let running: SpawnedGateway | null = null;

  beforeAll(async () => {
    upstream = await startUpstream();
  });
  afterAll(async () => upstream?.close());
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-crash-'));
  });
  afterEach(async () => {
    if (running) await running.stop();
    running = null;
    rmSync(dir, { recursive: true, force: true });
  });

  /** Starts the gateway on dir/data with this grace window; the port stays the same across restarts. */
  async function start(port: number, graceSeconds: number): Promise<string> {
    const base = `http://127.0.0.1:${port}`;
    const config = {
      server: { host: '127.0.0.1', port, public_url: base, data_dir: join(dir, 'data') },
      rate_limit: { oauth_per_minute: 10_000, login_per_minute: 10_000, mcp_per_minute: 0 },
      oauth: { refresh_grace_period: graceSeconds },
      upstreams: [{ slug: 'u', url: upstream.url }],
    };
    const file = join(dir, 'config.yaml');
    writeFileSync(file, JSON.stringify(config)); // JSON is valid YAML
    running = spawnGateway({ GATEHOUSE_CONFIG: file, GATEHOUSE_ADMIN_EMAIL: ADMIN.email, GATEHOUSE_ADMIN_PASSWORD: ADMIN.password }, dir);
    await running.waitFor('Gatehouse listening');
    return base;
  }

  async function killHard(): Promise<void> {
    const gw = running!;
    running = null;
    gw.proc.kill('SIGKILL');
    await gw.exited;
  }

  async function grantTokens(base: string): Promise<{ clientId: string; refreshToken: string; accessToken: string }> {
    const client = await registerPublicClient(base, REDIRECT_URI);
    const { verifier, challenge } = pkce();
    const code = await obtainCode(base, new TestBrowser(), ADMIN, { clientId: client.client_id, redirectUri: REDIRECT_URI, challenge });
    const res = await tokenRequest(base, { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT_URI, client_id: client.client_id });
    expect(res.status).toBe(200);
    return { clientId: client.client_id, refreshToken: res.json.refresh_token, accessToken: res.json.access_token };
  }

  const refresh = (base: string, clientId: string, refreshToken: string) =>
    tokenRequest(base, { grant_type: 'refresh_token', refresh_token: refreshToken, client_id: clientId });

  describe('a refresh whose response was lost in the crash', () => {
    it('retried within the grace window after the restart gets the same pair, which works', async () => {
      const port = await freePort();
      let base = await start(port, 300);
      const { clientId, refreshToken } = await grantTokens(base);
      const rotated = await refresh(base, clientId, refreshToken);
      expect(rotated.status).toBe(200);
      await killHard();

      base = await start(port, 300);
      const retry = await refresh(base, clientId, refreshToken);
      expect(retry.status).toBe(200);
      expect(retry.json.refresh_token).toBe(rotated.json.refresh_token);
      expect(retry.json.access_token).toBe(rotated.json.access_token);
      expect(retry.json).toMatchObject({ token_type: 'Bearer', scope: rotated.json.scope });
      expect(retry.json.expires_in).toBeGreaterThan(0);
      expect((await mcpPost(`${base}/mcp/u`, retry.json.access_token)).status).toBe(200);
      // The grant lives on: the pair's refresh token rotates normally.
      const next = await refresh(base, clientId, retry.json.refresh_token);
      expect(next.status).toBe(200);
      expect(next.json.refresh_token).not.toBe(retry.json.refresh_token);
    });

    it('reused after the grace window, still revokes the whole grant', async () => {
      const port = await freePort();
      let base = await start(port, 1);
      const { clientId, refreshToken } = await grantTokens(base);
      const rotated = await refresh(base, clientId, refreshToken);
      expect(rotated.status).toBe(200);
      const rotatedAt = Date.now();
      await killHard();

      base = await start(port, 1);
      await sleep(Math.max(0, rotatedAt + 1200 - Date.now()));
      const late = await refresh(base, clientId, refreshToken);
      expect(late.status).toBe(400);
      expect(late.json.error).toBe('invalid_grant');
      expect((await refresh(base, clientId, rotated.json.refresh_token)).json.error).toBe('invalid_grant');
      expect((await mcpPost(`${base}/mcp/u`, rotated.json.access_token)).status).toBe(401);
    });
  });
});
