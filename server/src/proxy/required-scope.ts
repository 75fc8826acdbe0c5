import type { Upstream } from '../upstreams/upstream';

export const SCOPE_READ = 'mcp:read';
export const SCOPE_TOOLS = 'mcp:tools';
export const DEFAULT_SCOPES = [SCOPE_READ, SCOPE_TOOLS];

/**
 * The scope an MCP message needs at an upstream that offers the built-in scopes:
 * calling a tool needs mcp:tools, every other request (and opening the GET stream)
 * needs mcp:read. Notifications and responses need nothing. Custom scope names impose no rule.
 */
export function requiredScope(httpMethod: string, rpcMethods: string[] | null, upstream: Upstream): string[] {
  const offered = new Set(upstream.scopes);
  const needed = new Set<string>();
  if (httpMethod !== 'POST') {
    if (offered.has(SCOPE_READ)) needed.add(SCOPE_READ);
    return [...needed];
  }
  for (const method of rpcMethods ?? []) {
    if (method === 'tools/call' && offered.has(SCOPE_TOOLS)) needed.add(SCOPE_TOOLS);
    else if (!method.startsWith('notifications/') && method !== 'response' && offered.has(SCOPE_READ)) needed.add(SCOPE_READ);
  }
  return [...needed];
}
