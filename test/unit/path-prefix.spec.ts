import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { basePathOf, gatewayPath, publicUrlProblem } from '../../server/src/common/base-path';
import { ConfigError, loadConfig } from '../../server/src/config/config.loader';
import { ConfigService } from '../../server/src/config/config.service';
import { consoleHome, safeReturnTo, signInUrl } from '../../server/src/identity/return-to';

describe('PUBLIC_URL with a path', () => {
  describe('gatewayPath: what a proxy forwards, as the route it names', () => {
    it.each([
      ['/gatehouse/authorize?client_id=a', '/authorize?client_id=a'],
      ['/gatehouse/mcp/notes', '/mcp/notes'],
      ['/gatehouse', '/'],
      ['/gatehouse/', '/'],
      ['/gatehouse?x=1', '/?x=1'],
      ['/gatehouse/.well-known/oauth-authorization-server', '/.well-known/oauth-authorization-server'],
    ])('a kept prefix is dropped: %s → %s', (url, expected) => {
      expect(gatewayPath(url, '/gatehouse')).toBe(expected);
    });

    it.each([
      ['/.well-known/oauth-authorization-server/gatehouse', '/.well-known/oauth-authorization-server'],
      ['/.well-known/oauth-authorization-server/gatehouse?x', '/.well-known/oauth-authorization-server?x'],
      ['/.well-known/oauth-protected-resource/gatehouse/mcp/notes', '/.well-known/oauth-protected-resource/mcp/notes'],
      ['/.well-known/openid-configuration/gatehouse', '/.well-known/openid-configuration'],
    ])('the base path inserted into a well-known URL (RFC 8414 §3.1, RFC 9728 §3.1) is dropped: %s → %s', (url, expected) => {
      expect(gatewayPath(url, '/gatehouse')).toBe(expected);
    });

    it.each([
      '/authorize?x',
      '/mcp/notes',
      '/gatehousefoo/login',
      '/admin/gatehouse',
      '/.well-known/oauth-authorization-server',
      '/.well-known/oauth-authorization-server/gatehouses',
      '/.well-known/oauth-protected-resource/mcp/notes',
    ])('anything else (a stripped prefix, or another path) is left alone: %s', (url) => {
      expect(gatewayPath(url, '/gatehouse')).toBe(url);
    });

    it('works for a base path of several segments', () => {
      expect(gatewayPath('/tools/gatehouse/token', '/tools/gatehouse')).toBe('/token');
      expect(gatewayPath('/.well-known/oauth-protected-resource/tools/gatehouse/mcp/a', '/tools/gatehouse')).toBe('/.well-known/oauth-protected-resource/mcp/a');
      expect(gatewayPath('/tools/login', '/tools/gatehouse')).toBe('/tools/login');
    });
  });

  describe('which public URLs are accepted', () => {
    it.each(['https://gw.example', 'https://gw.example/', 'https://gw.example/gatehouse', 'https://gw.example/gatehouse/', 'http://127.0.0.1:8080/a/b-c_d.e~f'])('%s', (url) => {
      expect(publicUrlProblem(url)).toBeNull();
    });

    it.each([
      ['https://gw.example/admin', /must not start with \/admin/],
      ['https://gw.example/MCP/x', /must not start with \/MCP/],
      ['https://gw.example/.well-known', /must not start with/],
      ['https://gw.example/gatehouse?x=1', /query or fragment/],
      ['https://gw.example/gatehouse#top', /query or fragment/],
      ['https://gw.example/gate%20house', /may only have segments/],
      ['https://gw.example/a//b', /may only have segments/],
    ])('%s is refused', (url, why) => {
      expect(publicUrlProblem(url)).toMatch(why);
    });

    const load = (env: Record<string, string>, yaml = 'upstreams: []') => {
      const dir = mkdtempSync(join(tmpdir(), 'gatehouse-prefix-'));
      try {
        writeFileSync(join(dir, 'config.yaml'), yaml);
        return loadConfig({ GATEHOUSE_CONFIG: join(dir, 'config.yaml'), ...env });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    };

    const refusal = (env: Record<string, string>, yaml?: string): ConfigError => {
      try {
        load(env, yaml);
      } catch (err) {
        if (err instanceof ConfigError) return err;
        throw err;
      }
      throw new Error('the configuration was accepted');
    };

    it('the loader names PUBLIC_URL (or server.public_url) and says why', () => {
      const fromEnv = refusal({ PUBLIC_URL: 'https://gw.example/admin' });
      expect(fromEnv.key).toBe('PUBLIC_URL');
      expect(fromEnv.message).toContain('a path the gateway serves itself');
      expect(refusal({}, 'server: { public_url: "https://gw.example/x?y=1" }').key).toBe('server.public_url');
    });

    it('a path is kept (trailing slash dropped) and becomes the base path', () => {
      const config = new ConfigService(load({ PUBLIC_URL: 'https://gw.example/gatehouse/' }));
      expect(config.publicUrl).toBe('https://gw.example/gatehouse');
      expect(config.issuer).toBe('https://gw.example/gatehouse');
      expect(config.basePath).toBe('/gatehouse');
      expect(config.publicPath('/login')).toBe('/gatehouse/login');
      expect(config.cookiePath).toBe('/gatehouse');
      expect(config.resourceUrl('notes')).toBe('https://gw.example/gatehouse/mcp/notes');
      expect(config.resourceMetadataUrl('notes')).toBe('https://gw.example/.well-known/oauth-protected-resource/gatehouse/mcp/notes');
    });

    it('at the root nothing changes', () => {
      const config = new ConfigService(load({ PUBLIC_URL: 'https://gw.example' }));
      expect(basePathOf(config.publicUrl)).toBe('');
      expect(config.publicPath('/login')).toBe('/login');
      expect(config.cookiePath).toBe('/');
      expect(config.resourceMetadataUrl('notes')).toBe('https://gw.example/.well-known/oauth-protected-resource/mcp/notes');
    });
  });

  it('sign-in return paths are public paths: the default is the prefixed console', () => {
    expect(consoleHome('/gatehouse')).toBe('/gatehouse/admin/');
    expect(safeReturnTo('//evil.example/', '/gatehouse')).toBe('/gatehouse/admin/');
    expect(safeReturnTo('/gatehouse/authorize?x=1', '/gatehouse')).toBe('/gatehouse/authorize?x=1');
    expect(signInUrl('/gatehouse', '/gatehouse/admin/users')).toBe('/gatehouse/login?return_to=%2Fgatehouse%2Fadmin%2Fusers');
  });
});
