import type { IncomingMessage, ServerResponse } from 'node:http';
import { withoutTrailingSlashes } from './trailing-slashes';

export const CORS_ALLOW_HEADERS = 'Authorization, Content-Type, Accept, Mcp-Session-Id, MCP-Protocol-Version, Mcp-Method, Mcp-Name, Last-Event-ID';
export const CORS_EXPOSE_HEADERS = 'WWW-Authenticate, Mcp-Session-Id, MCP-Protocol-Version';

/**
 * Origins allowed to call the gateway from a browser (exact match, no trailing slash). The
 * gateway's own origin (its public URL's) is always one: a page served by the gateway, or a
 * client that names it as Origin, is same-origin, never a DNS-rebinding attacker.
 */
export class CorsPolicy {
  private readonly origins: Set<string>;

  constructor(origins: string[], publicUrl?: string) {
    this.origins = new Set(origins.map(withoutTrailingSlashes));
    if (publicUrl) this.origins.add(new URL(publicUrl).origin);
  }

  allows(origin: string): boolean {
    return this.origins.has(origin);
  }

  /** Sets the CORS response headers for an allowed Origin; returns false when the Origin is not allowed. */
  apply(req: IncomingMessage, res: ServerResponse, methods: string): boolean {
    const origin = req.headers.origin;
    res.setHeader('Vary', 'Origin');
    if (!origin) return true;
    if (!this.allows(origin)) return false;
    res.setHeader('Access-Control-Allow-Origin', origin);
    res.setHeader('Access-Control-Expose-Headers', CORS_EXPOSE_HEADERS);
    if (req.method === 'OPTIONS') {
      res.setHeader('Access-Control-Allow-Methods', methods);
      res.setHeader('Access-Control-Allow-Headers', CORS_ALLOW_HEADERS);
      res.setHeader('Access-Control-Max-Age', '600');
    }
    return true;
  }
}
