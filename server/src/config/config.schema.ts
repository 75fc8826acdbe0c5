import 'reflect-metadata';
import { Type } from 'class-transformer';
import { ArrayNotEmpty, IsArray, IsBoolean, IsIn, IsInt, IsNotEmpty, IsObject, IsOptional, IsString, IsUrl, Matches, Max, Min, ValidateIf, ValidateNested } from 'class-validator';
import { TOOL_ARGUMENTS_MODES, ToolArgumentsMode } from '../audit/tool-arguments';
import { AuthConfig, authConfigClassFor, defaultAuthConfig } from '../upstreams/auth-modes';
import { INSTANCE_MODES, InstanceMode, TRANSPORTS, UpstreamTransport } from '../upstreams/transports/transport';
import { transportProblems } from '../upstreams/transports/transport-config';
import { LoggingConfig, MetricsConfig, TracingConfig } from './observability.schema';
import { UpstreamToolsConfig } from '../tool-policy/tool-policy.config';
import { IdentityProviderConfig, LocalAuthConfig } from '../identity/federation/identity-provider.config';

/** Who may use an upstream. Empty (or absent) means every gateway user. */
export class AllowListConfig {
  @IsArray()
  @IsString({ each: true })
  users: string[] = [];

  @IsArray()
  @IsString({ each: true })
  emails: string[] = [];

  @IsArray()
  @IsString({ each: true })
  email_domains: string[] = [];

  @IsArray()
  @IsString({ each: true })
  groups: string[] = [];
}

/** What the audit log keeps of an upstream's traffic. */
export class UpstreamAuditConfig {
  /**
   * `digest` (default): a tools/call row keeps a SHA-256 digest of its arguments, never their
   * values. `values`: the values too (at most 4 KiB, secret-looking members redacted).
   */
  @IsIn(TOOL_ARGUMENTS_MODES, { message: `must be one of: ${TOOL_ARGUMENTS_MODES.join(', ')}` })
  tool_arguments: ToolArgumentsMode = 'digest';
}

/** Rules for upstreams added at run time in the admin console (those of config.yaml are trusted as the file is). */
export class UpstreamsPolicyConfig {
  /**
   * Let console upstreams be on loopback, private or other non-public addresses. false: the gateway
   * connects to them only at public addresses (SSRF guard), so a console session cannot be used to
   * reach the gateway's own host or LAN. A home server whose MCP servers are on the LAN sets true.
   */
  @IsBoolean()
  allow_private_networks = false;
}

export class UpstreamConfig {
  @Matches(/^[a-z0-9][a-z0-9-]{0,62}$/, { message: 'must be lowercase letters, digits and dashes' })
  slug: string;

  @IsOptional()
  @IsString()
  name?: string;

  /** http (default): the upstream is at `url`; stdio/spawn: the gateway runs `command` (upstreams/transports). */
  @IsIn(TRANSPORTS, { message: `must be one of: ${TRANSPORTS.join(', ')}` })
  transport: UpstreamTransport = 'http';

  /** Required for transport http; a stdio or spawned upstream has none (transportProblems says so). */
  @ValidateIf((u: UpstreamConfig) => u.transport === 'http' || u.url !== undefined)
  @IsUrl({ require_tld: false, protocols: ['http', 'https'], require_protocol: true })
  url: string;

  /** stdio/spawn: the program to run (a path, or a name looked up in PATH), without a shell. */
  @ValidateIf((u: UpstreamConfig) => u.transport === 'stdio' || u.transport === 'spawn' || u.command !== undefined)
  @IsNotEmpty({ message: 'is required with transport stdio or spawn: the program to run' })
  @IsString({ message: 'is required with transport stdio or spawn: the program to run' })
  command?: string;

  @IsOptional()
  @IsArray()
  @IsString({ each: true })
  args?: string[];

  /** Variables the process gets besides PATH, HOME and LANG (values are kept in the vault). */
  @IsOptional()
  @IsObject()
  env?: Record<string, string>;

  /** The process's working directory (default: its own directory under the data dir). */
  @IsOptional()
  @IsString()
  @IsNotEmpty()
  cwd?: string;

  /** stdio: a process per MCP session (default) or one shared by every session. */
  @IsOptional()
  @IsIn(INSTANCE_MODES, { message: `must be one of: ${INSTANCE_MODES.join(', ')}` })
  instances?: InstanceMode;

  /** stdio: seconds without a request after which a process is stopped. */
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(86_400)
  idle_timeout?: number;

  /** stdio: processes of this upstream running at once at most (more sessions get 429). */
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(1000)
  max_processes?: number;

  /** spawn: the loopback port the child listens on, or "{port}" for one the gateway picks (and puts in args/env). */
  @IsOptional()
  port?: number | string;

  /** spawn: the path of the child's MCP endpoint (default /mcp). */
  @IsOptional()
  @Matches(/^\/[^\s?#]*$/, { message: 'must be a path starting with /' })
  path?: string;

  @IsOptional()
  @IsBoolean()
  enabled = true;

  /** Seconds; tool calls from Claude may legitimately take up to 300 s. */
  @IsInt()
  @Min(1)
  @Max(3600)
  timeout = 300;

  @IsArray()
  @ArrayNotEmpty()
  @IsString({ each: true })
  scopes: string[] = ['mcp:read', 'mcp:tools'];

  /** A union keyed on `mode`: the class of the mode it names validates the rest (upstreams/auth-modes). */
  @ValidateNested()
  @Type((t) => authConfigClassFor(t?.object[t.property]))
  auth: AuthConfig = defaultAuthConfig();

  @ValidateNested()
  @Type(() => AllowListConfig)
  allow: AllowListConfig = new AllowListConfig();

  @ValidateNested()
  @Type(() => UpstreamAuditConfig)
  audit: UpstreamAuditConfig = new UpstreamAuditConfig();
  /** Per-tool rules and catalogue pinning (tool-policy/); absent: no rules, pinning off. */
  @IsOptional()
  @ValidateNested()
  @Type(() => UpstreamToolsConfig)
  tools?: UpstreamToolsConfig;

  /** Rules across the transport keys that the decorators cannot say: key (relative to the upstream) → problem. */
  transportProblems(): Array<{ key: string; problem: string }> {
    return transportProblems(this);
  }
}

export class ServerConfig {
  @IsInt()
  @Min(0)
  @Max(65535)
  port = 8080;

  @IsString()
  host = '0.0.0.0';

  @IsOptional()
  @IsUrl({ require_tld: false, protocols: ['http', 'https'], require_protocol: true })
  public_url?: string;

  @IsString()
  data_dir = './data';

  /** Express "trust proxy" setting: true behind a TLS-terminating reverse proxy. */
  @IsBoolean()
  trust_proxy = false;

  /**
   * Host names /mcp requests may carry besides the public URL's, IP literals and localhost
   * (DNS-rebinding protection): "name" exactly, ".example.com" for that domain and its subdomains.
   */
  @IsArray()
  @Matches(/^\.?[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?$/, { each: true, message: 'must be host names ("gatehouse", ".example.com"), without scheme or port' })
  allowed_hosts: string[] = [];
}

/** Where the data lives: the embedded SQLite file in data_dir (default), or a PostgreSQL server shared by several replicas. */
export class DatabaseConfig {
  /** postgres://user:password@host:port/db (env DATABASE_URL); absent: SQLite in server.data_dir. */
  @IsOptional()
  @Matches(/^postgres(ql)?:\/\/[^\s]+$/, { message: 'must be a postgres:// (or postgresql://) URL; leave it out for the embedded SQLite database' })
  url?: string;
}

export class OAuthConfig {
  @IsInt()
  @Min(1)
  access_token_ttl = 3600;

  @IsInt()
  @Min(60)
  refresh_token_ttl = 30 * 24 * 3600;

  /** OAuth 2.1 §4.1.2 recommends a code lifetime of at most 10 minutes. */
  @IsInt()
  @Min(10)
  @Max(600)
  authorization_code_ttl = 600;

  /** Seconds during which a just-rotated refresh token returns the same new pair (concurrent refreshes). */
  @IsInt()
  @Min(0)
  @Max(300)
  refresh_grace_period = 30;

  @IsInt()
  @Min(3600)
  login_session_ttl = 7 * 24 * 3600;
}

export class ClientMetadataDocumentsConfig {
  /** Accept https URLs as client_id (Client ID Metadata Documents). */
  @IsBoolean()
  enabled = true;

  /** Let client_id URLs resolve to private or loopback addresses (and use http there). Only for tests and labs. */
  @IsBoolean()
  allow_private_networks = false;

  /** Deadline for the whole fetch of a document (connect, headers, body), not an idle timeout. */
  @IsInt()
  @Min(100)
  @Max(30_000)
  fetch_timeout_ms = 5000;

  @IsInt()
  @Min(512)
  @Max(1_048_576)
  max_document_bytes = 16_384;

  /** Upper bound on how long a fetched document is cached, whatever its Cache-Control says. */
  @IsInt()
  @Min(0)
  max_cache_seconds = 86_400;

  /** Documents kept in the cache at most (least recently used dropped first): client_id URLs are anyone's choice. */
  @IsInt()
  @Min(1)
  @Max(1_000_000)
  max_cached_documents = 1000;
}

export class RegistrationConfig {
  /** Dynamically registered clients unused for this many days are deleted. */
  @IsInt()
  @Min(1)
  unused_client_days = 30;

  /** Registrations allowed per hour from one IP address and user agent. */
  @IsInt()
  @Min(1)
  max_per_source_per_hour = 30;
}

export class CorsConfig {
  @IsArray()
  @IsString({ each: true })
  allowed_origins: string[] = ['https://claude.ai', 'https://claude.com', 'http://localhost:6274', 'http://127.0.0.1:6274'];
}

export class RateLimitConfig {
  /** Requests per minute per client IP on the OAuth and login endpoints; per replica. */
  @IsInt()
  @Min(1)
  oauth_per_minute = 120;

  /** MCP requests per minute per user and upstream at the proxy (bursts up to the same number); 0 = no limit. On PostgreSQL, over all replicas together (synced about once a second). */
  @IsInt()
  @Min(0)
  mcp_per_minute = 1200;

  /** Login attempts per minute per client IP; on PostgreSQL over all replicas together (counted in the database). */
  @IsInt()
  @Min(1)
  login_per_minute = 10;

  /** Requests per minute per client IP to the admin API (/admin/api), all its routes together; counted apart from the OAuth limit, per replica. */
  @IsInt()
  @Min(1)
  admin_per_minute = 600;
}

/** One-time links by which a user sets a password (the admin copies them; no mail server is needed). */
export class InvitesConfig {
  /** Seconds an invite link for a new user stays valid (7 days). */
  @IsInt()
  @Min(1)
  invite_ttl = 7 * 24 * 3600;

  /** Seconds a password-reset link stays valid (24 hours). */
  @IsInt()
  @Min(1)
  reset_ttl = 24 * 3600;
}

export class AuditConfig {
  @IsInt()
  @Min(1)
  retention_days = 90;
}

export class GatehouseConfig {
  /** Serve a tiny built-in MCP server at /_demo/mcp (the embedded default uses it). */
  @IsBoolean()
  demo_upstream = false;

  @ValidateNested()
  @Type(() => ServerConfig)
  server: ServerConfig = new ServerConfig();

  @ValidateNested()
  @Type(() => DatabaseConfig)
  database: DatabaseConfig = new DatabaseConfig();

  @ValidateNested()
  @Type(() => OAuthConfig)
  oauth: OAuthConfig = new OAuthConfig();

  @ValidateNested()
  @Type(() => CorsConfig)
  cors: CorsConfig = new CorsConfig();

  @ValidateNested()
  @Type(() => ClientMetadataDocumentsConfig)
  client_metadata_documents: ClientMetadataDocumentsConfig = new ClientMetadataDocumentsConfig();

  @ValidateNested()
  @Type(() => RegistrationConfig)
  registration: RegistrationConfig = new RegistrationConfig();

  @ValidateNested()
  @Type(() => RateLimitConfig)
  rate_limit: RateLimitConfig = new RateLimitConfig();

  @ValidateNested()
  @Type(() => AuditConfig)
  audit: AuditConfig = new AuditConfig();

  @ValidateNested()
  @Type(() => InvitesConfig)
  invites: InvitesConfig = new InvitesConfig();

  @IsArray()
  @ValidateNested({ each: true })
  @Type(() => UpstreamConfig)
  upstreams: UpstreamConfig[] = [];

  @ValidateNested()
  @Type(() => UpstreamsPolicyConfig)
  upstreams_policy: UpstreamsPolicyConfig = new UpstreamsPolicyConfig();

  /** OpenID Connect providers users may sign in through ("Sign in with …"). */
  @IsArray()
  @ValidateNested({ each: true })
  @Type(() => IdentityProviderConfig)
  identity_providers: IdentityProviderConfig[] = [];

  /** Local (password) sign-in policy. */
  @ValidateNested()
  @Type(() => LocalAuthConfig)
  auth: LocalAuthConfig = new LocalAuthConfig();

  @ValidateNested()
  @Type(() => LoggingConfig)
  logging: LoggingConfig = new LoggingConfig();

  @ValidateNested()
  @Type(() => MetricsConfig)
  metrics: MetricsConfig = new MetricsConfig();

  @ValidateNested()
  @Type(() => TracingConfig)
  tracing: TracingConfig = new TracingConfig();
}
