/**
 * Every `type` an audit row is written with: AuditRecord.type takes only these, so a misspelt type
 * fails to compile instead of writing rows no filter, metric or dashboard finds. The strings are
 * stored in audit_events and named in filters (`/admin/audit?type=login`): renaming one splits the
 * log in two. Add a new type here when a new event is audited.
 */
export const AUDIT_EVENT_TYPES = [
  // Sign-in and accounts
  'login',
  'user.create',
  'user.enable',
  'user.disable',
  'user.password.set',
  'user.password.change',
  'group.create',
  'group.member.add',
  'group.member.remove',
  // Sign-in through an OpenID Connect provider: success, refusal (with the reason), a new link, a group sync
  'identity.federated.signin',
  'identity.federated.refused',
  'identity.federated.link',
  'identity.federated.groups',

  // OAuth: clients, consent, codes, tokens, grants
  'client.register',
  // A client ID metadata document fetched (success) or not usable (failure: detail.reason)
  'client.metadata_document',
  // GET /authorize passed its checks (detail.signed_in), or was refused (detail.error: the RFC 6749 §4.1.2.1 code)
  'authorize.start',
  'authorize.error',
  'consent',
  'code.issue',
  'policy.deny',
  'code.replay',
  'token.issue',
  'token.refresh',
  'token.reuse',
  // /token answered an error (detail: grant_type, error (RFC 6749 §5.2 code), reason, check)
  'token.refused',
  'token.revoke',
  'grant.revoke',

  // The proxy: one row per request (mcp.request), or why it was refused or broke off
  'mcp.request',
  // A 401 at /mcp for a token the gateway can name (expired, or for another upstream)
  'mcp.unauthorized',
  'rate.limit',
  'request.malformed',
  'scope.deny',
  'upstream.credential',
  'upstream.timeout',
  'upstream.aborted',
  // Tool policy and catalogue (tool-policy/): a call the gateway refused, a definition that changed
  'mcp.tool.denied',
  'mcp.tool.quarantined',
  'mcp.tool.changed',
  'upstream.unavailable',

  // Upstreams: the registry (config.yaml seeding), upstream sign-in and credentials
  'upstream.enable',
  'upstream.disable',
  'upstream.allow_list',
  'upstream.signin',
  'upstream.token_refresh',
  'upstream.client_registration',
  'credentials.change',

  // The vault
  'vault.write',
  'vault.delete',
  'vault.read',
  'vault.rotate',

  // Admin actions (console or CLI): `admin.<what>.<verb>`, naming the admin and the target
  'admin.bundle.create',
  'admin.bundle.update',
  'admin.bundle.delete',
  'admin.user.create',
  'admin.user.reset_password',
  'admin.user.role',
  'admin.user.rename',
  'admin.user.enable',
  'admin.user.disable',
  'admin.user.delete',
  'admin.group.create',
  'admin.group.rename',
  'admin.group.delete',
  'admin.group.member.add',
  'admin.group.member.remove',
  'admin.upstream.create',
  'admin.upstream.update',
  'admin.upstream.enable',
  'admin.upstream.disable',
  'admin.upstream.allow',
  'admin.upstream.delete',
  'admin.upstream.test',
  'admin.upstream.tool_rules',
  'admin.upstream.tool_pinning',
  'admin.upstream.tool_approve',
  'admin.upstream.tool_reject',
  'admin.client.delete',
  'admin.identity_provider.create',
  'admin.identity_provider.update',
  'admin.identity_provider.delete',
  'admin.grant.revoke',
  'admin.grant.revoke_all',
] as const;

export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

/** The verbs of one family of types, e.g. AuditVerb<'admin.user'> is 'create' | 'reset_password' | … */
export type AuditVerb<Family extends string> = AuditEventType extends infer T ? (T extends `${Family}.${infer Verb}` ? Verb : never) : never;

const KNOWN: ReadonlySet<string> = new Set(AUDIT_EVENT_TYPES);

/** Whether `value` is a type the gateway writes (e.g. to check a filter read from a query string). */
export function isAuditEventType(value: unknown): value is AuditEventType {
  return typeof value === 'string' && KNOWN.has(value);
}
