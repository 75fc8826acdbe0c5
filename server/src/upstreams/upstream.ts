import type { AuthMode } from '../config/config.schema';

/** An MCP server behind the gateway, mounted at /mcp/{slug}. */
export interface Upstream {
  slug: string;
  name: string;
  url: string;
  enabled: boolean;
  /** Milliseconds. */
  timeoutMs: number;
  scopes: string[];
  authMode: AuthMode;
  /** Static headers injected on every proxied request (mode "headers"). */
  headers: Record<string, string>;
  /** The RFC 8707 resource identifier and token audience: PUBLIC_URL/mcp/{slug}. */
  resource: string;
}
