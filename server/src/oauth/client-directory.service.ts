import { Injectable } from '@nestjs/common';
import { notFound } from '../common/api-errors';
import { Actor } from '../identity/actor';
import { ClientMetadataService } from './cimd/client-metadata.service';
import { PINNED_CLIENT_METADATA } from './cimd/pinned-documents';
import { OAuthClient } from './client.entity';
import { ClientsService } from './clients.service';
import { ClientGrantStats } from './grants/grant-query';
import { revokedByAdmin } from './grants/grant-revocation';
import { GrantsService } from './grants/grants.service';

/**
 * How the client came to the gateway: RFC 7591 registration (a row), or a client ID metadata
 * document URL, 'pinned' when it is one of the well-known clients whose document ships with
 * Gatehouse (cimd/pinned-documents.ts).
 */
export const CLIENT_KINDS = ['dynamic', 'metadata_document', 'pinned'] as const;
export type ClientKind = (typeof CLIENT_KINDS)[number];

/** A client as the console lists it. Nothing secret: no secret hash, no registration source. */
export interface ClientEntry {
  clientId: string;
  name: string | null;
  kind: ClientKind;
  redirectUris: string[];
  /** Registered at; for a metadata document client, its first grant (or when its document was fetched). */
  createdAt: number;
  /** The later of its last token request and the last use of one of its tokens at the proxy. */
  lastUsedAt: number | null;
  activeGrants: number;
}

export interface ClientFilter {
  /** Part of the client id or name (case-insensitive). */
  q?: string;
  kind?: ClientKind;
}

/** Newest first: up to `limit` clients after `after` = [createdAt, clientId] of the last one seen. */
export interface ClientPage {
  after: [number, string] | null;
  limit: number;
}

/**
 * Every client the gateway knows, for the console. Registered clients are rows; a metadata
 * document client is no row (its URL is its id), so it is listed while it has live grants or its
 * document is in the cache (the well-known pinned ones included), and never fetched for a list.
 */
@Injectable()
export class ClientDirectory {
  constructor(
    private readonly clients: ClientsService,
    private readonly documents: ClientMetadataService,
    private readonly grants: GrantsService,
  ) {}

  async list(filter: ClientFilter, page: ClientPage): Promise<ClientEntry[]> {
    const registered = filter.kind && filter.kind !== 'dynamic' ? [] : await this.registered(filter.q, page);
    // Few (each needs a user's consent or a cache slot), so they are filtered and merged in memory.
    const documents =
      filter.kind === 'dynamic' ? [] : (await this.documentClients()).filter((c) => (!filter.kind || c.kind === filter.kind) && matches(c, filter.q) && isAfter(c, page.after));
    return [...registered, ...documents].sort(newestFirst).slice(0, page.limit);
  }

  /** The client, or null when the gateway knows nothing of it. */
  async find(clientId: string): Promise<ClientEntry | null> {
    if (isDocumentId(clientId)) return (await this.documentClients()).find((c) => c.clientId === clientId) ?? null;
    const [row] = await this.clients.registeredByIds([clientId]);
    return row ? this.withStats([row]).then(([entry]) => entry) : null;
  }

  /** clientId → name, for lists of grants. */
  async namesOf(clientIds: string[]): Promise<Map<string, string | null>> {
    const names = new Map<string, string | null>();
    for (const row of await this.clients.registeredByIds(clientIds.filter((id) => !isDocumentId(id)))) names.set(row.clientId, row.clientName);
    for (const id of clientIds) if (isDocumentId(id)) names.set(id, this.documentOf(id)?.clientName ?? null);
    return names;
  }

  /**
   * Revokes every grant of the client (their tokens stop at once, open streams are cut) and
   * forgets its consents; a registered client's row goes too, in the same transaction with the
   * audit row. A metadata document client can come back: its id is a URL anyone may present, so
   * deleting it drops the cached document and its grants, and the user must consent again.
   */
  async delete(clientId: string, actor: Actor): Promise<number> {
    const client = await this.find(clientId);
    if (!client) throw notFound('no such client');
    const revoked = await this.grants.revokeAllFor(
      { clientId },
      {
        ...revokedByAdmin(actor, 'admin.client.delete', { target_client: clientId, name: client.name, kind: client.kind }),
        reason: 'client deleted by an admin',
        alsoIn: (tx) => this.clients.deleteIn(tx, clientId),
      },
    );
    this.documents.forget(clientId);
    return revoked;
  }

  private async registered(q: string | undefined, page: ClientPage): Promise<ClientEntry[]> {
    return this.withStats(await this.clients.listRegistered(q, page));
  }

  private async withStats(rows: OAuthClient[]): Promise<ClientEntry[]> {
    const stats = new Map((await this.grants.clientStats(rows.map((r) => r.clientId))).map((s) => [s.clientId, s]));
    return rows.map((row) => {
      const s = stats.get(row.clientId);
      return {
        clientId: row.clientId,
        name: row.clientName,
        kind: 'dynamic',
        redirectUris: row.redirectUris,
        createdAt: row.createdAt,
        lastUsedAt: latest(row.lastUsedAt, s?.lastUsedAt ?? null),
        activeGrants: s?.activeGrants ?? 0,
      };
    });
  }

  /** Metadata document clients with grants, and those whose document is cached. */
  private async documentClients(): Promise<ClientEntry[]> {
    const byId = new Map<string, ClientGrantStats | null>();
    for (const s of await this.grants.clientStats('metadata documents')) byId.set(s.clientId, s);
    const cached = new Set(this.documents.cachedClients().map((c) => c.clientId));
    for (const id of cached) if (!byId.has(id)) byId.set(id, null);
    // Only revoked grants and no cached document: deleted, or long gone (it comes back when it is used again).
    for (const [id, s] of byId) if (s && !s.activeGrants && !cached.has(id)) byId.delete(id);
    return [...byId].map(([clientId, s]) => {
      const doc = this.documentOf(clientId);
      return {
        clientId,
        name: doc?.clientName ?? null,
        kind: clientId in PINNED_CLIENT_METADATA ? 'pinned' : 'metadata_document',
        redirectUris: doc?.redirectUris ?? [],
        createdAt: s?.firstGrantAt ?? doc?.createdAt ?? 0,
        lastUsedAt: s?.lastUsedAt ?? null,
        activeGrants: s?.activeGrants ?? 0,
      };
    });
  }

  /** The document as cached, else as pinned; never fetched here. */
  private documentOf(clientId: string): Pick<OAuthClient, 'clientName' | 'redirectUris' | 'createdAt'> | null {
    const cached = this.documents.cached(clientId);
    if (cached) return cached;
    const pinned = PINNED_CLIENT_METADATA[clientId];
    if (!pinned) return null;
    return { clientName: pinned.client_name as string, redirectUris: pinned.redirect_uris as string[], createdAt: 0 };
  }
}

/** A metadata document client's id is its https URL; a registered client's id is random base64url, never with a ':'. */
function isDocumentId(clientId: string): boolean {
  return clientId.startsWith('https://') || clientId.startsWith('http://');
}

function matches(c: ClientEntry, q: string | undefined): boolean {
  if (!q) return true;
  const needle = q.toLowerCase();
  return c.clientId.toLowerCase().includes(needle) || !!c.name?.toLowerCase().includes(needle);
}

function isAfter(c: ClientEntry, after: [number, string] | null): boolean {
  return !after || c.createdAt < after[0] || (c.createdAt === after[0] && c.clientId < after[1]);
}

function newestFirst(a: ClientEntry, b: ClientEntry): number {
  return b.createdAt - a.createdAt || (a.clientId < b.clientId ? 1 : a.clientId > b.clientId ? -1 : 0);
}

function latest(a: number | null, b: number | null): number | null {
  return a === null ? b : b === null ? a : Math.max(a, b);
}
