import type { AuthMode } from '../config/config.schema';

export interface CredentialField {
  name: string;
  label: string;
  secret: boolean;
  required: boolean;
}

/** Non-secret settings of mode "oauth" (the client secret lives in the vault). */
export interface UpstreamOAuthSettings {
  clientId: string | null;
  hasClientSecret: boolean;
  issuer: string | null;
  authorizationEndpoint: string | null;
  tokenEndpoint: string | null;
  registrationEndpoint: string | null;
  scopes: string[];
}

export interface AllowList {
  users: string[];
  emails: string[];
  emailDomains: string[];
  groups: string[];
}

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
  /** Mode "headers": the names of the static headers (values are in the vault). */
  headerNames: string[];
  /** Mode "user_credentials": header name → template over the fields, e.g. "Bearer {{api_key}}". */
  headerTemplates: Record<string, string>;
  credentialFields: CredentialField[];
  oauth: UpstreamOAuthSettings | null;
  allow: AllowList;
  /** The RFC 8707 resource identifier and token audience: PUBLIC_URL/mcp/{slug}. */
  resource: string;
}

export function allowListIsOpen(allow: AllowList): boolean {
  return !allow.users.length && !allow.emails.length && !allow.emailDomains.length && !allow.groups.length;
}
