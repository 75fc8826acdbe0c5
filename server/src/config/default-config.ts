/**
 * Used when no config file exists: one demo upstream served by the gateway itself
 * (a tiny MCP server at /_demo/mcp), so a fresh clone works with `npm start`.
 */
export function embeddedDefaultConfig(): Record<string, unknown> {
  return {
    demo_upstream: true,
    upstreams: [{ slug: 'demo', name: 'Demo MCP server', url: 'http://127.0.0.1:8080/_demo/mcp', auth: { mode: 'none' } }],
  };
}
