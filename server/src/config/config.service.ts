import { resolve } from 'node:path';
import { LoadedConfig } from './config.loader';

/** Read-only view of the validated configuration. */
export class ConfigService {
  constructor(readonly config: LoadedConfig) {}

  get publicUrl(): string {
    return this.config.publicUrl;
  }

  get issuer(): string {
    return this.config.publicUrl;
  }

  get dataDir(): string {
    return resolve(this.config.server.data_dir);
  }

  get oauth() {
    return this.config.oauth;
  }

  get secureCookies(): boolean {
    return this.config.publicUrl.startsWith('https://');
  }

  resourceUrl(slug: string): string {
    return `${this.publicUrl}/mcp/${slug}`;
  }

  resourceMetadataUrl(slug: string): string {
    return `${this.publicUrl}/.well-known/oauth-protected-resource/mcp/${slug}`;
  }
}
