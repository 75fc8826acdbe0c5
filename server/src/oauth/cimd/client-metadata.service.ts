import { Injectable, Logger, Optional } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import { ConfigService } from '../../config/config.service';
import { OAuthClient } from '../client.entity';
import { redirectUriProblem } from '../redirect-uri';
import { AuditService } from '../../audit/audit.service';
import { OutboundAddressRefused, outboundRequest, OutboundTimeout, OutboundTooLarge } from '../../common/ssrf';
import { PINNED_CLIENT_METADATA } from './pinned-documents';

/** Why a client ID metadata document cannot be used; the message is shown to the user. */
export class ClientMetadataError extends Error {}

const MIN_CACHE_SECONDS = 60;
const DEFAULT_CACHE_SECONDS = 3600;

/**
 * Client ID Metadata Documents (MCP authorization 2025-11-25 and later): a client_id
 * that is an https URL names a JSON document describing the client. Fetched with
 * SSRF guards, validated, and cached per its HTTP cache headers.
 */
@Injectable()
export class ClientMetadataService {
  private readonly logger = new Logger('ClientMetadata');
  /**
   * Keyed by URLs anyone can make up: bounded in count (least recently used dropped first) and each
   * entry expires per its Cache-Control; an expired entry is never served.
   */
  private readonly cache: LRUCache<string, OAuthClient>;

  constructor(
    private readonly config: ConfigService,
    @Optional() private readonly audit?: AuditService,
  ) {
    this.cache = new LRUCache({ max: this.settings.max_cached_documents });
  }

  get settings() {
    return this.config.clientMetadataDocuments;
  }

  /** True when this client_id is to be resolved as a metadata document URL. */
  isDocumentUrl(clientId: string): boolean {
    if (!this.settings.enabled) return false;
    if (clientId.startsWith('https://')) return true;
    return this.settings.allow_private_networks && clientId.startsWith('http://');
  }

  async resolve(clientId: string): Promise<OAuthClient> {
    const cached = this.cache.get(clientId);
    if (cached) return cached;
    const url = parseClientIdUrl(clientId);
    let document: unknown;
    let maxAge: number | null = null;
    try {
      ({ document, maxAge } = await this.fetchDocument(url));
    } catch (err) {
      const pinned = PINNED_CLIENT_METADATA[clientId];
      await this.recordFetch(clientId, fetchFailure(err), pinned !== undefined);
      if (!pinned) {
        // The cause (refused address, connection refused or reset, timeout, HTTP status…) goes to the log
        // only: shown to whoever typed the URL, it would tell them which hosts and ports answer.
        this.logger.warn(`the metadata document ${url.href.slice(0, 300)} could not be fetched: ${(err as Error).message}`);
        throw new ClientMetadataError(`The application's metadata document at ${url.host} could not be fetched.`);
      }
      this.logger.warn(`using the pinned metadata of ${clientId}: the live document failed (${(err as Error).message})`);
      document = pinned;
    }
    let client: OAuthClient;
    try {
      client = toClient(clientId, document);
    } catch (err) {
      if (err instanceof ClientMetadataError) await this.recordFetch(clientId, { reason: 'invalid_document', message: err.message }, false);
      throw err;
    }
    await this.recordFetch(clientId, null, false);
    const seconds = Math.min(Math.max(maxAge ?? DEFAULT_CACHE_SECONDS, MIN_CACHE_SECONDS), this.settings.max_cache_seconds);
    // lru-cache reads a ttl of 0 as "forever": max_cache_seconds 0 means no caching at all.
    if (seconds > 0) this.cache.set(clientId, client, { ttl: seconds * 1000 });
    return client;
  }

  /** The cached document of this client, if any (never fetches, does not refresh its place in the cache). */
  cached(clientId: string): OAuthClient | undefined {
    return this.cache.peek(clientId);
  }

  /** Every client whose document is cached and fresh. */
  cachedClients(): OAuthClient[] {
    return [...this.cache.values()];
  }

  /** Drops the client's cached document: the next use fetches it again. */
  forget(clientId: string): void {
    this.cache.delete(clientId);
  }

  /**
   * The audit row of one fetch (cache hits write none), for the connection doctor: a failure's
   * reason is a category (refused by the SSRF guard, timeout, HTTP status, not JSON, …) with the
   * message, which names no secret (the log line of the same failure says as much). Only admins
   * read audit rows, so the network detail kept from the person at /authorize is fine here.
   */
  private async recordFetch(clientId: string, failure: { reason: string; message: string } | null, pinnedUsed: boolean): Promise<void> {
    await this.audit?.recordNow({
      type: 'client.metadata_document',
      outcome: failure ? 'failure' : 'success',
      clientId,
      detail: failure ? { reason: failure.reason, message: failure.message.slice(0, 300), pinned_used: pinnedUsed } : null,
    });
  }

  /** GET the document: no redirects followed, size and time capped, through the SSRF guard. */
  private async fetchDocument(url: URL): Promise<{ document: unknown; maxAge: number | null }> {
    const res = await outboundRequest(url, {
      headers: { Accept: 'application/json' },
      allowPrivateNetworks: this.settings.allow_private_networks,
      timeoutMs: this.settings.fetch_timeout_ms,
      maxBytes: this.settings.max_document_bytes,
    });
    if (res.status !== 200) throw new HttpStatusError(`HTTP ${res.status}${res.headers.location ? ' (redirects are not followed)' : ''}`);
    return { document: parseJson(res.body), maxAge: maxAgeSeconds(res.headers['cache-control']) };
  }
}

/** Seconds a response may be cached per its Cache-Control header (RFC 9111 §5.2.2), or null when unspecified. */
function maxAgeSeconds(cacheControl: string | undefined): number | null {
  if (!cacheControl) return null;
  if (/(^|,)\s*(no-store|no-cache)\s*(,|$)/i.test(cacheControl)) return 0;
  const m = /max-age\s*=\s*(\d+)/i.exec(cacheControl);
  return m ? Number(m[1]) : null;
}

function parseClientIdUrl(clientId: string): URL {
  let url: URL;
  try {
    url = new URL(clientId);
  } catch {
    throw new ClientMetadataError('The client_id is not a valid URL.');
  }
  // The document URL must have a path and no fragment or credentials.
  if (url.hash || url.username || url.password || url.pathname === '/') {
    throw new ClientMetadataError('The client_id URL must have a path and no fragment or credentials.');
  }
  return url;
}

class HttpStatusError extends Error {}
class NotJsonError extends Error {}

function parseJson(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    throw new NotJsonError('the document is not JSON');
  }
}

/** The category of a failed fetch, as the doctor's rules name it. */
function fetchFailure(err: unknown): { reason: string; message: string } {
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof OutboundAddressRefused) return { reason: 'ssrf_refused', message };
  if (err instanceof OutboundTimeout) return { reason: 'timeout', message };
  if (err instanceof OutboundTooLarge) return { reason: 'too_large', message };
  if (err instanceof HttpStatusError) return { reason: 'http_status', message };
  if (err instanceof NotJsonError) return { reason: 'not_json', message };
  return { reason: 'network', message };
}

function toClient(clientId: string, doc: unknown): OAuthClient {
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new ClientMetadataError("The application's metadata document is not a JSON object.");
  const d = doc as Record<string, unknown>;
  if (d.client_id !== clientId) {
    throw new ClientMetadataError("The application's metadata document names a different client_id than its own URL.");
  }
  const uris = d.redirect_uris;
  if (!Array.isArray(uris) || !uris.length || uris.some((u) => redirectUriProblem(u) !== null)) {
    throw new ClientMetadataError("The application's metadata document has no valid redirect_uris.");
  }
  const method = d.token_endpoint_auth_method ?? 'none';
  if (method !== 'none') {
    // A JSON value of the document: a string as it is, anything else in its JSON spelling (not "[object Object]").
    const asked = typeof method === 'string' ? method : JSON.stringify(method);
    throw new ClientMetadataError(`The application's metadata document asks for ${asked}; only public clients ("none") are supported.`);
  }
  const client = new OAuthClient();
  Object.assign(client, {
    clientId,
    clientSecretHash: null,
    clientName: typeof d.client_name === 'string' ? d.client_name.slice(0, 200) : null,
    redirectUris: uris as string[],
    tokenEndpointAuthMethod: 'none',
    grantTypes: ['authorization_code', 'refresh_token'],
    responseTypes: ['code'],
    scope: typeof d.scope === 'string' ? d.scope : null,
    extraMetadata: typeof d.client_uri === 'string' ? { client_uri: d.client_uri } : {},
    createdAt: Date.now(),
    lastUsedAt: null,
  });
  return client;
}
