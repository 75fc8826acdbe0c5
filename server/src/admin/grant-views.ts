import { Injectable } from '@nestjs/common';
import { UsersService } from '../identity/users.service';
import { ClientDirectory, ClientEntry } from '../oauth/client-directory.service';
import { Grant } from '../oauth/grant.entity';
import { UpstreamsService } from '../upstreams/upstreams.service';
import { iso } from './views';

/** A grant as the admin API shows it: who, which client, which upstream; never a token or a hash. */
export interface GrantView {
  id: string;
  user: { id: string; email: string | null };
  client: { clientId: string; name: string | null };
  upstream: { slug: string; name: string };
  scope: string;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
  revokedReason: string | null;
}

export interface ClientView {
  clientId: string;
  name: string | null;
  kind: ClientEntry['kind'];
  redirectUris: string[];
  createdAt: string;
  lastUsedAt: string | null;
  activeGrants: number;
}

/** Grants with the names the console shows next to them, resolved once per page. */
@Injectable()
export class GrantViews {
  constructor(
    private readonly users: UsersService,
    private readonly clients: ClientDirectory,
    private readonly upstreams: UpstreamsService,
  ) {}

  async of(grants: Grant[]): Promise<GrantView[]> {
    const emails = await this.users.emailsOf([...new Set(grants.map((g) => g.userId))]);
    const clientNames = await this.clients.namesOf([...new Set(grants.map((g) => g.clientId))]);
    return grants.map((g) => ({
      id: g.id,
      user: { id: g.userId, email: emails.get(g.userId) ?? null },
      client: { clientId: g.clientId, name: clientNames.get(g.clientId) ?? null },
      // A grant outlives its upstream's removal: then its slug is all there is to show.
      upstream: { slug: g.upstreamSlug, name: this.upstreams.target(g.upstreamSlug)?.name ?? g.upstreamSlug },
      scope: g.scope,
      createdAt: iso(g.createdAt),
      lastUsedAt: g.lastUsedAt === null ? null : iso(g.lastUsedAt),
      revokedAt: g.revokedAt === null ? null : iso(g.revokedAt),
      revokedReason: g.revokedReason,
    }));
  }
}

export function clientView(c: ClientEntry): ClientView {
  return {
    clientId: c.clientId,
    name: c.name,
    kind: c.kind,
    redirectUris: c.redirectUris,
    createdAt: iso(c.createdAt),
    lastUsedAt: c.lastUsedAt === null ? null : iso(c.lastUsedAt),
    activeGrants: c.activeGrants,
  };
}
