import { AppLogger } from '../../server/src/logging/app-logger';
import { prettyLine } from '../../server/src/logging/pretty-line';

/**
 * Issue 12: the proxy writes one access line per MCP request. In the pretty format (the default)
 * AppLogger.lineLogger builds that line from the fields, where pino wrote JSON that prettyLine
 * parsed back: the same line, without the round trip on the hot path.
 */
describe('hotpath: the access line in the pretty format', () => {
  const FIELDS = {
    upstream: 'notes',
    http: 'POST',
    method: 'tools/call',
    tool: 'search docs',
    status: 200,
    duration_ms: 12,
    user: 'u-1',
    client: 'c-1',
    trace_id: '0af7651916cd43dd8448eb211c80319c',
    error: undefined,
    ip: '127.0.0.1',
    odd: 'a\nINFO fake=1',
    nested: { a: [1, 'x'] },
    flag: true,
    none: null,
  };
  const TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z /;

  function capture(format: 'pretty' | 'json', level: 'info' | 'warn' = 'info') {
    const lines: string[] = [];
    const logger = AppLogger.create({ level, format }, { write: (s: string) => void lines.push(s) });
    return { logger, lines };
  }

  it('is the very line pino + prettyLine write for the same fields (time aside)', () => {
    const direct = capture('pretty');
    direct.logger.lineLogger('access').info({ ...FIELDS }, 'mcp request');
    const viaJson = capture('json');
    viaJson.logger.child('access').info({ ...FIELDS }, 'mcp request');
    expect(direct.lines).toHaveLength(1);
    expect(direct.lines[0]).toMatch(TIME);
    expect(direct.lines[0].replace(TIME, '')).toBe(prettyLine(viaJson.lines[0]).replace(TIME, ''));
    expect(direct.lines[0]).toContain('INFO  [access] mcp request upstream=notes http=POST method=tools/call tool="search docs" status=200');
  });

  it('does not write JSON and parse it back for each line', () => {
    const { logger, lines } = capture('pretty');
    const access = logger.lineLogger('access');
    const parse = jest.spyOn(JSON, 'parse');
    try {
      for (let i = 0; i < 10; i++) access.info({ ...FIELDS, status: 200 + i }, 'mcp request');
      expect(parse).not.toHaveBeenCalled();
    } finally {
      parse.mockRestore();
    }
    expect(lines).toHaveLength(10);
  });

  it("follows the logger's level: nothing below it, and isLevelEnabled says so", () => {
    const { logger, lines } = capture('pretty', 'warn');
    const access = logger.lineLogger('access');
    expect(access.isLevelEnabled('info')).toBe(false);
    access.info({ ...FIELDS }, 'mcp request');
    expect(lines).toEqual([]);
  });

  it('is pino itself in the json format', () => {
    const { logger, lines } = capture('json');
    logger.lineLogger('access').info({ upstream: 'notes', status: 200 }, 'mcp request');
    expect(JSON.parse(lines[0])).toMatchObject({ level: 'info', context: 'access', msg: 'mcp request', upstream: 'notes', status: 200 });
  });
});
