import {
  BUNDLE_SLUG,
  bundleOfPath,
  bundleResourceMetadataUrl,
  bundleSlug,
  bundleUpstream,
  isBundlePath,
  isBundleSlug,
  scopesOfItsOwn,
} from '../../server/src/bundle/bundle-resource';
import { exposedName, findByExposedName, MAX_NAME, splitExposedName } from '../../server/src/bundle/tool-names';
import { isMcpPath } from '../../server/src/proxy/mcp-proxy.service';

describe('bundle tool names: <slug>__<tool>', () => {
  it('prefixes a tool with its upstream slug, and splits at the first "__" (slugs have no "_")', () => {
    expect(exposedName('notes', 'search')).toBe('notes__search');
    expect(splitExposedName('notes__search')).toEqual({ slug: 'notes', rest: 'search' });
    expect(splitExposedName('my-crm__find__by_id')).toEqual({ slug: 'my-crm', rest: 'find__by_id' });
    expect(findByExposedName('my-crm', 'my-crm__find__by_id', ['find', 'find__by_id'])).toBe('find__by_id');
  });

  it('refuses names the bundle did not make', () => {
    for (const name of ['search', '__search', 'notes__', '']) expect(splitExposedName(name)).toBeNull();
    expect(findByExposedName('notes', 'notes__nothing', ['search'])).toBeUndefined();
  });

  it(`keeps every name within ${MAX_NAME} characters, unique and stable, and finds the tool again`, () => {
    const long1 = `create_${'a'.repeat(80)}_one`;
    const long2 = `create_${'a'.repeat(80)}_two`;
    const a = exposedName('calendar-service', long1);
    const b = exposedName('calendar-service', long2);
    expect(a.length).toBe(MAX_NAME);
    expect(b.length).toBe(MAX_NAME);
    expect(a).not.toBe(b);
    expect(exposedName('calendar-service', long1)).toBe(a);
    expect(a).toMatch(/^calendar-service__create_a+_[0-9a-f]{8}$/);
    expect(findByExposedName('calendar-service', b, [long1, long2])).toBe(long2);
    // A name that fits is never changed.
    const fits = 'x'.repeat(MAX_NAME - 'notes__'.length);
    expect(exposedName('notes', fits)).toBe(`notes__${fits}`);
  });
});

describe('the bundle as a resource', () => {
  it('is /mcp itself, never an upstream path', () => {
    for (const url of ['/mcp', '/mcp/', '/mcp?x=1', '/mcp/?x=1']) {
      expect(isBundlePath(url)).toBe(true);
      expect(isMcpPath(url)).toBe(true); // still routed ahead of Express
    }
    for (const url of ['/mcp/notes', '/mcp/b', '/mcpx', '/mcp-notes', '/mcp/b/', '/mcp/b/Work', '/mcp/b/a/b', undefined]) expect(isBundlePath(url)).toBe(false);
  });

  it('names a named bundle by /mcp/b/{name}, with its own slug, resource and metadata URL', () => {
    expect(bundleOfPath('/mcp')).toBeNull();
    expect(bundleOfPath('/mcp/b/work')).toBe('work');
    expect(bundleOfPath('/mcp/b/work/?x=1')).toBe('work');
    expect(bundleOfPath('/mcp/b/work/more')).toBeUndefined();
    expect(bundleSlug('work')).toBe('@bundle/work');
    expect(isBundleSlug('@bundle/work')).toBe(true);
    expect(isBundleSlug('work')).toBe(false);
    expect(bundleUpstream('https://gw.example', {} as never, 'work')).toMatchObject({ slug: '@bundle/work', resource: 'https://gw.example/mcp/b/work' });
    expect(bundleResourceMetadataUrl('https://gw.example', 'work')).toBe('https://gw.example/.well-known/oauth-protected-resource/mcp/b/work');
  });

  it('has a slug no upstream can have, the built-in scopes, and its metadata at the RFC 9728 path', () => {
    expect(isBundleSlug(BUNDLE_SLUG)).toBe(true);
    expect(/^[a-z0-9][a-z0-9-]*$/.test(BUNDLE_SLUG)).toBe(false);
    const bundle = bundleUpstream('https://gw.example', {} as never);
    expect(bundle).toMatchObject({ slug: BUNDLE_SLUG, resource: 'https://gw.example/mcp', scopes: ['mcp:read', 'mcp:tools'], enabled: true });
    expect(bundleResourceMetadataUrl('https://gw.example')).toBe('https://gw.example/.well-known/oauth-protected-resource/mcp');
  });

  it('leaves out upstreams with scopes of their own', () => {
    expect(scopesOfItsOwn({ scopes: ['mcp:read', 'mcp:tools'] })).toEqual([]);
    expect(scopesOfItsOwn({ scopes: ['mcp:read', 'crm:write'] })).toEqual(['crm:write']);
  });
});
