import type { Upstream } from '../upstreams/upstream';
import { DEFAULT_SCOPES, requiredScope, SCOPE_READ, SCOPE_TOOLS } from './required-scope';

function upstreamOffering(scopes: string[]): Upstream {
  return {
    slug: 'notes',
    name: 'Notes',
    url: 'http://127.0.0.1:9/mcp',
    transport: 'http',
    process: null,
    enabled: true,
    timeoutMs: 30_000,
    scopes,
    authMode: 'none',
    headerNames: [],
    headerTemplates: {},
    credentialFields: [],
    oauth: null,
    allow: { users: [], emails: [], emailDomains: [], groups: [] },
    resource: 'http://127.0.0.1:8080/mcp/notes',
    source: 'config',
    guarded: false,
  };
}

describe('requiredScope', () => {
  const builtIn = upstreamOffering(DEFAULT_SCOPES);

  it('the built-in scopes are mcp:read and mcp:tools', () => {
    expect(DEFAULT_SCOPES).toEqual([SCOPE_READ, SCOPE_TOOLS]);
    expect([SCOPE_READ, SCOPE_TOOLS]).toEqual(['mcp:read', 'mcp:tools']);
  });

  it('calling a tool needs mcp:tools (and not mcp:read)', () => {
    expect(requiredScope('POST', ['tools/call'], builtIn)).toEqual(['mcp:tools']);
  });

  it.each(['initialize', 'tools/list', 'resources/read', 'prompts/get', 'ping'])('request %s needs mcp:read', (method) => {
    expect(requiredScope('POST', [method], builtIn)).toEqual(['mcp:read']);
  });

  it('notifications and responses need nothing', () => {
    expect(requiredScope('POST', ['notifications/initialized', 'notifications/cancelled'], builtIn)).toEqual([]);
    expect(requiredScope('POST', ['response'], builtIn)).toEqual([]);
  });

  it('a POST with no method list (an unparsed or empty body) needs nothing', () => {
    expect(requiredScope('POST', null, builtIn)).toEqual([]);
    expect(requiredScope('POST', [], builtIn)).toEqual([]);
  });

  it('a batch needs every scope its messages need, each once', () => {
    expect(requiredScope('POST', ['tools/call', 'tools/list', 'tools/call', 'notifications/initialized'], builtIn)).toEqual(['mcp:tools', 'mcp:read']);
  });

  it.each(['GET', 'DELETE'])('%s (the server-sent stream, ending the session) needs mcp:read whatever the methods', (httpMethod) => {
    expect(requiredScope(httpMethod, null, builtIn)).toEqual(['mcp:read']);
    expect(requiredScope(httpMethod, ['tools/call'], builtIn)).toEqual(['mcp:read']);
  });

  it('only scopes the upstream offers are required', () => {
    const toolsOnly = upstreamOffering(['mcp:tools']);
    expect(requiredScope('POST', ['tools/call', 'tools/list'], toolsOnly)).toEqual(['mcp:tools']);
    expect(requiredScope('GET', null, toolsOnly)).toEqual([]);
    const readOnly = upstreamOffering(['mcp:read']);
    expect(requiredScope('POST', ['tools/call', 'tools/list'], readOnly)).toEqual(['mcp:read']);
  });

  it('custom scope names impose no rule', () => {
    const custom = upstreamOffering(['notes:read', 'notes:write']);
    expect(requiredScope('POST', ['tools/call', 'tools/list'], custom)).toEqual([]);
    expect(requiredScope('GET', null, custom)).toEqual([]);
  });
});
