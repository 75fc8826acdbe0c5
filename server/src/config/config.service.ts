import { resolve } from 'node:path';
import { basePathOf } from '../common/base-path';
import { LoadedConfig } from './config.loader';

/**
 * Read-only view of the validated configuration: one named getter per section, so a reader of a
 * service sees which settings it depends on (and a renamed key fails to compile in one place).
 */
export class ConfigService {
  private base?: string;

  /**
   * @param seedsFromConfig whether this process writes config.yaml's upstreams and tool rules into
   * the database at start: the gateway does; a CLI command does not, since its configuration may
   * not be the gateway's (a shell without GATEHOUSE_CONFIG gets the embedded default), and its
   * seeding would disable the running gateway's upstreams (on PostgreSQL at once, through the
   * change feed).
   */
  constructor(
    private readonly settings: LoadedConfig,
    readonly seedsFromConfig = true,
  ) {}

  /**
   * The whole configuration, for code keyed by the configuration itself (the gateway's logger,
   * shared by Nest and by injection; the metrics choice made before modules start).
   */
  get loaded(): LoadedConfig {
    return this.settings;
  }

  /** Where the configuration came from: a file path or "embedded default". */
  get source(): string {
    return this.settings.source;
  }

  get publicUrl(): string {
    return this.settings.publicUrl;
  }

  get issuer(): string {
    return this.settings.publicUrl;
  }

  /** The public URL's path ('' at the root, e.g. '/gatehouse' under a path): see common/base-path.ts. */
  get basePath(): string {
    return (this.base ??= basePathOf(this.settings.publicUrl));
  }

  /** A route's path ('/login') as browsers address it ('/gatehouse/login'): for redirects, links and form actions. */
  publicPath(path: string): string {
    return this.basePath + path;
  }

  /** The `Path` of the gateway's cookies: its base path, so they never reach other apps on the host. */
  get cookiePath(): string {
    return this.basePath || '/';
  }

  get dataDir(): string {
    return resolve(this.settings.server.data_dir);
  }

  /** database.url (env DATABASE_URL): a PostgreSQL server, or undefined for the SQLite file in dataDir. */
  get databaseUrl(): string | undefined {
    return this.settings.database.url;
  }

  /** server.allowed_hosts: Host header values accepted besides the public URL's. */
  get allowedHosts(): string[] {
    return this.settings.server.allowed_hosts;
  }

  get oauth() {
    return this.settings.oauth;
  }

  get cors() {
    return this.settings.cors;
  }

  get clientMetadataDocuments() {
    return this.settings.client_metadata_documents;
  }

  get registration() {
    return this.settings.registration;
  }

  get rateLimit() {
    return this.settings.rate_limit;
  }

  get audit() {
    return this.settings.audit;
  }

  get invites() {
    return this.settings.invites;
  }

  /** Upstreams declared in config.yaml (seeded at start, read-only in the admin UI). */
  get upstreams() {
    return this.settings.upstreams;
  }

  get upstreamsPolicy() {
    return this.settings.upstreams_policy;
  }

  /** identity_providers: OpenID Connect providers users may sign in through. */
  get identityProviders() {
    return this.settings.identity_providers;
  }

  /** auth: who may still sign in with a gateway password. */
  get localAuth() {
    return this.settings.auth;
  }

  get metrics() {
    return this.settings.metrics;
  }

  get tracing() {
    return this.settings.tracing;
  }

  get secureCookies(): boolean {
    return this.settings.publicUrl.startsWith('https://');
  }

  /** Where the gateway's cookies go: only over https when the public URL is, and only under its base path. */
  get cookieScope(): { secure: boolean; path: string } {
    return { secure: this.secureCookies, path: this.cookiePath };
  }

  resourceUrl(slug: string): string {
    return `${this.publicUrl}/mcp/${slug}`;
  }

  /** RFC 9728 §3.1: the well-known name goes between the host and the resource's path (`/gatehouse/mcp/x`). */
  resourceMetadataUrl(slug: string): string {
    return `${new URL(this.publicUrl).origin}/.well-known/oauth-protected-resource${this.basePath}/mcp/${slug}`;
  }
}
