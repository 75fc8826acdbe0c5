import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isSendableHeaderValue } from '../../server/src/common/header-value';
import { ConfigError, loadConfig } from '../../server/src/config/config.loader';

describe('header values (RFC 9110 §5.5)', () => {
  it.each(['abc-123_XYZ', 'Bearer eyJ.x.y', 'a b\tc', '!~"\\', ''])('accepts %j', (v) => {
    expect(isSendableHeaderValue(v)).toBe(true);
  });

  it.each(['key\x01', 'key€', 'caf\u00e9', 'line\r\nX-Injected: 1', 'nul\0', 'del\x7f'])('refuses %j', (v) => {
    expect(isSendableHeaderValue(v)).toBe(false);
  });
});

describe('config: header values an upstream would be sent', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'gatehouse-hdr-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const configError = (yaml: string, env: Record<string, string> = {}): ConfigError => {
    const file = join(dir, 'config.yaml');
    writeFileSync(file, yaml);
    try {
      loadConfig({ GATEHOUSE_CONFIG: file, ...env });
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return err as ConfigError;
    }
    throw new Error('expected a ConfigError');
  };
  const headersMode = 'upstreams:\n  - slug: a\n    url: http://127.0.0.1:1/mcp\n    auth:\n      mode: headers\n      headers:\n        X-Api-Key: ${API_KEY}\n';

  it.each(['secret\x01value', 'secret€value', 'secret\tvalue\x7f'])('a static header value %j fails validation naming the key, without printing the value', (value) => {
    const err = configError(headersMode, { API_KEY: value });
    expect(err.key).toBe('upstreams[0].auth.headers.X-Api-Key');
    expect(err.message).toContain('cannot be sent in an HTTP header');
    expect(err.message).not.toContain('secret');
  });

  it('a user_credentials template with a bad literal part fails naming the key; {{fields}} are filled at consent', () => {
    const yaml = (template: string) =>
      `upstreams:\n  - slug: p\n    url: http://127.0.0.1:1/mcp\n    auth:\n      mode: user_credentials\n      fields:\n        - name: api_key\n          label: API key\n      headers:\n        Authorization: ${JSON.stringify(template)}\n`;
    expect(configError(yaml('Bearer\u0001 {{api_key}}')).key).toBe('upstreams[0].auth.headers.Authorization');
    expect(configError(yaml('Bearer € {{api_key}}')).message).toContain('cannot be sent in an HTTP header');
    const file = join(dir, 'config.yaml');
    writeFileSync(file, yaml('Bearer {{ api_key }}'));
    expect(loadConfig({ GATEHOUSE_CONFIG: file }).upstreams[0].auth.headers).toEqual({ Authorization: 'Bearer {{ api_key }}' });
  });
});
