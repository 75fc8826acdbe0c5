import { Injectable } from '@nestjs/common';
import { ConfigService } from '../config/config.service';
import { Upstream } from './upstream';

@Injectable()
export class UpstreamsService {
  private readonly bySlug = new Map<string, Upstream>();

  constructor(private readonly config: ConfigService) {
    for (const u of config.config.upstreams) {
      this.bySlug.set(u.slug, {
        slug: u.slug,
        name: u.name ?? u.slug,
        url: u.url,
        enabled: u.enabled,
        timeoutMs: u.timeout * 1000,
        scopes: u.scopes,
        authMode: u.auth.mode,
        headers: u.auth.mode === 'headers' ? { ...(u.auth.headers ?? {}) } : {},
        resource: config.resourceUrl(u.slug),
      });
    }
  }

  /** Enabled upstreams only. */
  list(): Upstream[] {
    return [...this.bySlug.values()].filter((u) => u.enabled);
  }

  get(slug: string): Upstream | undefined {
    const u = this.bySlug.get(slug);
    return u?.enabled ? u : undefined;
  }

  /** The upstream a RFC 8707 resource indicator names (trailing slash tolerated). */
  byResource(resource: string): Upstream | undefined {
    const normalized = resource.replace(/\/+$/, '');
    return this.list().find((u) => u.resource === normalized);
  }

  allScopes(): string[] {
    return [...new Set(this.list().flatMap((u) => u.scopes))];
  }
}
