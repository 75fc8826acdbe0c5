import { jsonTooDeep } from '../../server/src/common/json-depth';

const bytes = (text: string) => Buffer.from(text, 'utf8');
const nested = (depth: number, open = '[', close = ']') => open.repeat(depth) + close.repeat(depth);

describe('jsonTooDeep (pre-parse nesting limit)', () => {
  it('allows exactly the limit and refuses one more', () => {
    expect(jsonTooDeep(bytes(nested(4)), 4)).toBeNull();
    expect(jsonTooDeep(bytes(nested(5)), 4)).toEqual({ key: null });
  });

  it('counts objects and arrays alike', () => {
    expect(jsonTooDeep(bytes('{"a":{"b":[{"c":[]}]}}'), 4)).toEqual({ key: 'a' });
    expect(jsonTooDeep(bytes('{"a":{"b":[{"c":[]}]}}'), 5)).toBeNull();
  });

  it('ignores brackets inside strings, including after escaped quotes and backslashes', () => {
    expect(jsonTooDeep(bytes(JSON.stringify({ s: '[[[[[[{{{{{' })), 2)).toBeNull();
    expect(jsonTooDeep(bytes(JSON.stringify({ s: 'say "[[[[[[" \\' })), 2)).toBeNull();
    expect(jsonTooDeep(bytes(JSON.stringify(['\\', [[[]]]])), 3)).toEqual({ key: null });
  });

  it('names the top-level member the deep value sits in, not an earlier string value', () => {
    const text = JSON.stringify({ client_name: 'x', redirect_uris: ['https://a.example/cb'], contacts: [[[[['deep']]]]] });
    expect(jsonTooDeep(bytes(text), 4)).toEqual({ key: 'contacts' });
  });

  it('passes multi-byte UTF-8 text through untouched', () => {
    expect(jsonTooDeep(bytes(JSON.stringify({ name: '€[ü]{ß}' })), 1)).toBeNull();
    expect(jsonTooDeep(bytes(JSON.stringify({ 'näme€': [[1]] })), 2)).toEqual({ key: 'näme€' });
  });
});
