import { resolve } from 'node:path';
import { LoadedConfig } from './config.loader';

/**
 * Read-only view of the validated configuration: one named getter per section, so a reader of a
 * service sees which settings it depends on (and a renamed key fails to compile in one place).
 */
export class ConfigService {
  constructor(private readonly settings: LoadedConfig) {}

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

  get metrics() {
    return this.settings.metrics;
  }

  get secureCookies(): boolean {
    return this.settings.publicUrl.startsWith('https://');
  }

  resourceUrl(slug: string): string {
    return `${this.publicUrl}/mcp/${slug}`;
  }

  resourceMetadataUrl(slug: string): string {
    return `${this.publicUrl}/.well-known/oauth-protected-resource/mcp/${slug}`;
  }
}
