import { ConfigError } from '../../server/src/config/config.loader';
import { credentialEnv, processEnv, withPort } from '../../server/src/upstreams/transports/process-env';
import { StderrLog, STDERR_LINES_KEPT } from '../../server/src/upstreams/transports/stderr-log';
import { configFrom } from '../helpers/gateway';

function problemsOf(upstreams: unknown[]): Record<string, string> {
  try {
    configFrom({ upstreams });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return Object.fromEntries(err.problems.map((p) => [p.key, p.problem]));
  }
  return {};
}

describe('stdio and spawned upstreams: config.yaml keys', () => {
  it('accepts a stdio and a spawned upstream, and stores their settings', () => {
    const config = configFrom({
      upstreams: [
        { slug: 'files', transport: 'stdio', command: 'node', args: ['server.js'], env: { API_KEY: 'x' }, instances: 'shared', idle_timeout: 30, max_processes: 2 },
        { slug: 'web', transport: 'spawn', command: 'node', args: ['web.js', '--port', '{port}'] },
      ],
    });
    expect(config.upstreams.map((u) => u.transport)).toEqual(['stdio', 'spawn']);
  });

  it('names every bad key at once', () => {
    expect(
      problemsOf([
        { slug: 'a', transport: 'pipe', url: 'http://x' },
        { slug: 'b', transport: 'stdio' },
        { slug: 'c', transport: 'stdio', command: 'x', url: 'http://127.0.0.1:1/mcp', port: 8080, env: { 'BAD-NAME': 'v' }, instances: 'many' },
        { slug: 'd', url: 'http://127.0.0.1:1/mcp', command: 'x', max_processes: 3 },
        { slug: 'e', transport: 'spawn', command: 'x', port: 'eighty', instances: 'shared' },
      ]),
    ).toEqual({
      'upstreams[0].transport': 'must be one of: http, stdio, spawn',
      'upstreams[1].command': 'is required with transport stdio or spawn: the program to run',
      'upstreams[2].instances': 'must be one of: per_session, shared',
      'upstreams[2].url': 'is not used with transport stdio (the gateway runs the command instead)',
      'upstreams[2].port': 'is not used with transport stdio',
      'upstreams[2].env.BAD-NAME': 'must be a variable name (letters, digits and _, not starting with a digit)',
      'upstreams[3].command': 'is not used with transport http',
      'upstreams[3].max_processes': 'is not used with transport http',
      'upstreams[4].instances': 'is not used with transport spawn',
      'upstreams[4].port': 'must be a port number from 1 to 65535, or "{port}" for one the gateway picks',
    });
  });
});

describe('process environment', () => {
  it('holds PATH, HOME and LANG, then the listed variables and the credential, and nothing else of the gateway', () => {
    process.env.GATEHOUSE_MASTER_KEY_TEST = 'secret';
    const env = processEnv('/data/processes/x', { A: '1' }, { API_KEY: 'k' });
    expect(Object.keys(env).sort()).toEqual(['A', 'API_KEY', 'HOME', 'LANG', 'PATH']);
    expect(env.HOME).toBe('/data/processes/x');
    delete process.env.GATEHOUSE_MASTER_KEY_TEST;
  });

  it('turns credential headers into variable names, and fills {port}', () => {
    expect(credentialEnv({ 'x-api-key': 'a', authorization: 'Bearer t', 'bad name': 'n' })).toEqual({ X_API_KEY: 'a', AUTHORIZATION: 'Bearer t' });
    expect(withPort(['--port', '{port}', 'http://127.0.0.1:{port}/'], 4100)).toEqual(['--port', '4100', 'http://127.0.0.1:4100/']);
  });
});

describe('stderr capture', () => {
  it('keeps the last lines only, each cut to a bounded length, and logs within a budget', () => {
    const logged: string[] = [];
    const log = new StderrLog({ log: (m: string) => logged.push(m), warn: () => undefined } as never, 'p');
    for (let i = 0; i < 500; i++) log.write(Buffer.from(`line ${i}\n`));
    log.write(Buffer.from('x'.repeat(5000)));
    log.flush();
    const kept = log.last();
    expect(kept).toHaveLength(STDERR_LINES_KEPT);
    expect(kept.at(-1)).toHaveLength(1000);
    expect(kept[0]).toBe(`line ${500 - STDERR_LINES_KEPT + 1}`);
    expect(logged).toHaveLength(100);
  });
});
