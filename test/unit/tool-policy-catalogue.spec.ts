import { canonicalJson, definitionHash, definitionOf } from '../../server/src/tool-policy/tool-definition';

describe('tool definitions in the catalogue', () => {
  it('hash the pinned fields only, whatever their key order', () => {
    const a = { name: 't', description: 'd', inputSchema: { type: 'object', properties: { x: { type: 'string' }, y: { type: 'number' } } }, _meta: { seen: 1 } };
    const b = { inputSchema: { properties: { y: { type: 'number' }, x: { type: 'string' } }, type: 'object' }, description: 'd', name: 't', _meta: { seen: 2 } };
    expect(definitionOf(a)).toEqual({ name: 't', description: 'd', inputSchema: a.inputSchema });
    expect(definitionHash(definitionOf(a))).toBe(definitionHash(definitionOf(b)));
    expect(definitionHash(definitionOf(a))).not.toBe(definitionHash(definitionOf({ ...a, description: 'd ' })));
    expect(definitionHash(definitionOf(a))).not.toBe(definitionHash(definitionOf({ ...a, annotations: { destructiveHint: true } })));
  });

  it('writes canonical JSON: sorted keys, arrays in order, undefined members left out', () => {
    expect(canonicalJson({ b: [2, 1], a: { d: undefined, c: 'x' } })).toBe('{"a":{"c":"x"},"b":[2,1]}');
  });
});
