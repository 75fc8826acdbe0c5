import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../helpers/gateway';
import { connectWithOAuth } from '../helpers/oauth-client';
import { spawnGateway } from '../helpers/spawn-gateway';

describe('starting the gateway from its entry point', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-start-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('with no config file, serves metadata, the login page and the demo upstream on the embedded default', async () => {
    const port = await freePort();
    const gw = spawnGateway({ PORT: String(port), HOST: '127.0.0.1', DATA_DIR: join(dir, 'data'), PUBLIC_URL: undefined }, dir);
    try {
      const out = await gw.waitFor('Gatehouse listening');
      expect(out).toContain('config: embedded default');
      const email = /email:\s+(\S+)/.exec(out)![1];
      const password = /password:\s+(\S+)/.exec(out)![1];
      const base = `http://localhost:${port}`;

      const meta = (await (await fetch(`${base}/.well-known/oauth-authorization-server`)).json()) as any;
      expect(meta.issuer).toBe(base);
      expect(meta.code_challenge_methods_supported).toEqual(['S256']);
      const login = await fetch(`${base}/login`);
      expect(login.status).toBe(200);
      expect(await login.text()).toContain('name="password"');
      expect(statSync(join(dir, 'data', 'gatehouse.db')).isFile()).toBe(true);

      const { client } = await connectWithOAuth(`${base}/mcp/demo`, { email, password });
      const res = await client.callTool({ name: 'echo', arguments: { text: 'demo works' } });
      expect(res.content).toEqual([{ type: 'text', text: 'demo works' }]);
      await client.close();
    } finally {
      expect(await gw.stop()).toBe(0);
    }
    // The generated password is printed on the first start only.
    const again = spawnGateway({ PORT: String(await freePort()), HOST: '127.0.0.1', DATA_DIR: join(dir, 'data') }, dir);
    try {
      const out = await again.waitFor('Gatehouse listening');
      expect(out).not.toContain('password:');
    } finally {
      await again.stop();
    }
  });

  it('a bad config file exits non-zero naming the bad key', async () => {
    const file = join(dir, 'config.yaml');
    writeFileSync(file, 'upstreams:\n  - slug: ok\n    url: http://127.0.0.1:1/mcp\n    auth:\n      mode: magic\n');
    const gw = spawnGateway({ GATEHOUSE_CONFIG: file, DATA_DIR: join(dir, 'data') }, dir);
    expect(await gw.exited).toBe(2);
    expect(gw.output()).toContain('upstreams[0].auth.mode');
  });
});
