import type { ToolArgumentsMode } from '../audit/tool-arguments';
import type { AuthMode, AuthSettings } from './auth-modes';
import type { ProcessSettings, UpstreamTransport } from './transports/transport';

export type { CredentialField } from './auth-modes';
export type { UpstreamOAuthSettings } from './auth-modes/oauth';

/** Where an upstream's settings come from: config.yaml (read-only at run time) or the admin console. */
export type UpstreamSource = 'config' | 'console';

export interface AllowList {
  users: string[];
  emails: string[];
  emailDomains: string[];
  groups: string[];
}

/**
 * An MCP server behind the gateway, mounted at /mcp/{slug}. The auth settings of every mode are on
 * it (those of other modes empty); only the strategy of its `authMode` (upstreams/auth-modes) reads them.
 */
export interface Upstream extends AuthSettings {
  slug: string;
  name: string;
  /** transport http: where it is; '' for stdio and spawn (see transports/). */
  url: string;
  transport: UpstreamTransport;
  /** stdio and spawn: the process the gateway runs; null for http. */
  process: ProcessSettings | null;
  enabled: boolean;
  /** Milliseconds. */
  timeoutMs: number;
  scopes: string[];
  authMode: AuthMode;
  allow: AllowList;
  /** What the audit rows of its tools/call keep of the arguments (`audit.tool_arguments`); absent is 'digest'. */
  toolArguments?: ToolArgumentsMode;
  /** The RFC 8707 resource identifier and token audience: PUBLIC_URL/mcp/{slug}. */
  resource: string;
  source: UpstreamSource;
  /**
   * Connections to it must go to public addresses (the SSRF guard, common/ssrf): true for upstreams
   * added in the console, unless upstreams_policy.allow_private_networks. Upstreams from config.yaml
   * are trusted like the file itself (they are often on loopback or the LAN).
   */
  guarded: boolean;
}

export function allowListIsOpen(allow: AllowList): boolean {
  return !allow.users.length && !allow.emails.length && !allow.emailDomains.length && !allow.groups.length;
}
