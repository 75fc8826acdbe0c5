import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../server/src/config/config.loader';

describe('config loader', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'gatehouse-cfg-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const load = (yaml: string, env: Record<string, string> = {}) => {
    const file = join(dir, 'config.yaml');
    writeFileSync(file, yaml);
    return loadConfig({ GATEHOUSE_CONFIG: file, ...env });
  };
  const problem = (yaml: string, env: Record<string, string> = {}) => {
    try {
      load(yaml, env);
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return (err as ConfigError).key;
    }
    throw new Error('expected a ConfigError');
  };

  it('fills defaults and applies env overrides', () => {
    const c = load('upstreams: []', { PORT: '9001', HOST: '127.0.0.1', PUBLIC_URL: 'https://gw.example/', DATA_DIR: '/tmp/x' });
    expect(c.server).toMatchObject({ port: 9001, host: '127.0.0.1', data_dir: '/tmp/x' });
    expect(c.publicUrl).toBe('https://gw.example');
    expect(c.oauth.access_token_ttl).toBe(3600);
    expect(c.cors.allowed_origins).toContain('https://claude.ai');
  });

  it('uses the embedded default without a file, and refuses a named file that is missing', () => {
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      const c = loadConfig({ PORT: '8123' });
      expect(c.source).toBe('embedded default');
      expect(c.upstreams[0]).toMatchObject({ slug: 'demo', url: 'http://127.0.0.1:8123/_demo/mcp' });
    } finally {
      process.chdir(cwd);
    }
    expect(() => loadConfig({ GATEHOUSE_CONFIG: join(dir, 'missing.yaml') })).toThrow(/GATEHOUSE_CONFIG/);
  });

  it('substitutes ${ENV} references and names the key whose variable is missing', () => {
    const yaml = 'upstreams:\n  - slug: a\n    url: http://127.0.0.1:1/mcp\n    auth:\n      mode: headers\n      headers:\n        X-Api-Key: ${API_KEY}\n';
    expect(load(yaml, { API_KEY: 's3cret' }).upstreams[0].auth.headers).toEqual({ 'X-Api-Key': 's3cret' });
    expect(problem(yaml)).toBe('upstreams[0].auth.headers.X-Api-Key');
  });

  it.each([
    ['server:\n  prot: 1\n', 'server.prot'],
    ['server:\n  port: "abc"\n', 'server.port'],
    ['bogus: true\n', 'bogus'],
    ['oauth:\n  authorization_code_ttl: 3600\n', 'oauth.authorization_code_ttl'],
    ['upstreams:\n  - slug: Bad Slug\n    url: http://127.0.0.1:1/mcp\n', 'upstreams[0].slug'],
    ['upstreams:\n  - slug: a\n    url: not-a-url\n', 'upstreams[0].url'],
    ['upstreams:\n  - slug: a\n    url: http://127.0.0.1:1/mcp\n  - slug: a\n    url: http://127.0.0.1:2/mcp\n', 'upstreams[1].slug'],
    ['upstreams:\n  - slug: a\n    url: http://127.0.0.1:1/mcp\n    auth:\n      mode: headers\n', 'upstreams[0].auth.headers'],
    ['upstreams:\n  - slug: a\n    url: http://127.0.0.1:1/mcp\n    auth:\n      mode: headers\n      headers:\n        "bad header": x\n', 'upstreams[0].auth.headers.bad header'],
  ])('%s → names %s', (yaml, key) => {
    expect(problem(yaml)).toBe(key);
  });

  it('refuses invalid YAML', () => {
    expect(() => load('upstreams: [\n')).toThrow(/not valid YAML/);
  });
});
