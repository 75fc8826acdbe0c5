import http from 'node:http';
import https from 'node:https';
import { Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { sdkClient, sdkClientTransport, sdkTypes } from '../common/mcp-sdk';
import type { Prompt, Resource, Tool } from '@modelcontextprotocol/sdk/types.js';
import { LRUCache } from 'lru-cache';
import { createGuardedAgent, OutboundAddressRefused } from '../common/ssrf';
import { gatewayVersion } from '../common/version';
import { nodeFetch } from '../upstreams/connection-test/node-fetch';
import { Upstream } from '../upstreams/upstream';
import { UpstreamCredentialsService } from '../upstreams/upstream-credentials.service';

/** The kinds of list an upstream offers, each cached on its client until the upstream says it changed. */
export type ListKind = 'tools' | 'prompts' | 'resources';

/** A connected SDK client of one upstream for one user, with what it listed. */
export interface UpstreamClient {
  upstream: Upstream;
  userId: string;
  client: Client;
  transport: StreamableHTTPClientTransport;
  lists: { tools?: Tool[]; prompts?: Prompt[]; resources?: Resource[] };
}

/** Why an upstream is out of a user's bundle right now: `message` is for the user (no address, no secret). */
export class UpstreamUnavailable extends Error {
  constructor(
    readonly upstream: Upstream,
    message: string,
    /** The user must do something (sign in, enter credentials): not worth remembering as a failure. */
    readonly needsUser: boolean,
  ) {
    super(message);
  }
}

/** Connected clients kept, over all users; the least recently used is closed beyond it. */
const MAX_CLIENTS = 2000;
/** A client unused this long is closed (its upstream session ended). */
const IDLE_MS = 10 * 60_000;
/** An upstream that failed is not tried again for this long, so a down upstream does not slow every listing. */
const FAILURE_MEMORY_MS = 5_000;
/** Connecting (initialize) waits at most this long, or the upstream's own timeout if shorter. */
const CONNECT_DEADLINE_MS = 10_000;
const MAX_ANSWER_BYTES = 32 * 1024 * 1024;
/** Enough for any real list; an upstream sending more pages is cut off there. */
const MAX_PAGES = 20;
const IDLE_SOCKET_TIMEOUT_MS = 4000;

const key = (userId: string, slug: string) => `${userId}\0${slug}`;

/**
 * The bundle's clients of its member upstreams: the official SDK client over Streamable HTTP, one
 * per (user, upstream), kept connected and reused by every bundle session of that user (bounded,
 * closed when evicted or idle). Each HTTP request carries the headers the upstream's auth mode gives
 * for the user at that moment (an oauth token refreshed in between is picked up), through the SSRF
 * guard for console upstreams, as the proxy does.
 */
@Injectable()
export class UpstreamClientPool implements OnModuleDestroy {
  private readonly logger = new Logger('Bundle');
  private readonly clients = new LRUCache<string, Promise<UpstreamClient>>({
    max: MAX_CLIENTS,
    ttl: IDLE_MS,
    updateAgeOnGet: true,
    dispose: (pending) => {
      if (!this.closing)
        void pending.then(
          (c) => this.closeClient(c),
          () => undefined,
        );
    },
  });
  private closing = false;
  /** The client each pending connection gave, once connected (discard() tells its own from a newer one by it). */
  private readonly connected = new WeakMap<Promise<UpstreamClient>, UpstreamClient>();
  private readonly failures = new LRUCache<string, UpstreamUnavailable>({ max: MAX_CLIENTS, ttl: FAILURE_MEMORY_MS });
  private readonly listeners: Array<(userId: string, slug: string, kind: ListKind) => void> = [];
  private readonly plainAgents = {
    'http:': new http.Agent({ keepAlive: true, maxSockets: 256, scheduling: 'lifo', timeout: IDLE_SOCKET_TIMEOUT_MS }),
    'https:': new https.Agent({ keepAlive: true, maxSockets: 256, scheduling: 'lifo', timeout: IDLE_SOCKET_TIMEOUT_MS }),
  };
  private readonly guardedAgents = {
    'http:': createGuardedAgent('http:', { keepAlive: true, maxSockets: 256, scheduling: 'lifo', timeout: IDLE_SOCKET_TIMEOUT_MS }),
    'https:': createGuardedAgent('https:', { keepAlive: true, maxSockets: 256, scheduling: 'lifo', timeout: IDLE_SOCKET_TIMEOUT_MS }),
  };

  constructor(private readonly credentials: UpstreamCredentialsService) {}

  /** Called when an upstream tells a user's client that one of its lists changed. */
  onListChanged(listener: (userId: string, slug: string, kind: ListKind) => void): void {
    this.listeners.push(listener);
  }

  /** The user's connected client of the upstream; throws UpstreamUnavailable. */
  async client(upstream: Upstream, userId: string): Promise<UpstreamClient> {
    const k = key(userId, upstream.slug);
    let pending = this.clients.get(k);
    if (!pending) {
      const failed = this.failures.get(k);
      if (failed) throw failed;
      // Without a credential there is no point connecting: the user has something to do first.
      // (A connected client gets the credential with each request: fetchFor.)
      const credential = await this.credentials.headersFor(upstream, userId).catch((err: Error) => {
        this.logger.warn(`bundle: no credential for upstream ${upstream.slug}: ${err.message}`);
        throw new UpstreamUnavailable(upstream, `the sign-in service of ${upstream.name} is unavailable; try again shortly`, false);
      });
      if ('reauthorize' in credential) throw new UpstreamUnavailable(upstream, credential.reauthorize, true);
      pending = this.clients.get(k) ?? this.connect(upstream, userId);
      const connecting = pending;
      connecting.then(
        (c) => this.connected.set(connecting, c),
        () => undefined,
      );
      this.clients.set(k, pending);
    }
    try {
      return await pending;
    } catch (err) {
      if (this.clients.get(k) === pending) this.clients.delete(k);
      throw this.unavailable(upstream, userId, err);
    }
  }

  /** Every item of one of the upstream's lists (all pages, bounded), cached until it says the list changed. */
  async list<K extends ListKind>(upstream: Upstream, userId: string, kind: K): Promise<NonNullable<UpstreamClient['lists'][K]>> {
    const c = await this.client(upstream, userId);
    const cached = c.lists[kind];
    if (cached) return cached;
    const options = { timeout: Math.min(upstream.timeoutMs, CONNECT_DEADLINE_MS) };
    const items: unknown[] = [];
    let cursor: string | undefined;
    try {
      for (let page = 0; page < MAX_PAGES; page++) {
        const params = cursor === undefined ? undefined : { cursor };
        const result =
          kind === 'tools'
            ? await c.client.listTools(params, options)
            : kind === 'prompts'
              ? await c.client.listPrompts(params, options)
              : await c.client.listResources(params, options);
        items.push(...((result as unknown as Record<string, unknown[]>)[kind] ?? []));
        cursor = result.nextCursor;
        if (!cursor) break;
      }
    } catch (err) {
      throw this.failed(c, userId, err);
    }
    (c.lists as Record<string, unknown>)[kind] = items;
    return items as NonNullable<UpstreamClient['lists'][K]>;
  }

  /**
   * A call on the client failed: a transport failure (the upstream went away, its session ended, it
   * refused the credential) closes the client, so the next call connects afresh; an error the
   * upstream answered (an MCP error) is the caller's to report and keeps the client.
   */
  failed(c: UpstreamClient, userId: string, err: unknown): Error {
    if (!isTransportFailure(err)) return err as Error;
    const k = key(userId, c.upstream.slug);
    const pending = this.clients.get(k);
    if (pending)
      void pending.then(
        (live) => live === c && this.clients.delete(k),
        () => undefined,
      );
    return this.unavailable(c.upstream, userId, err);
  }

  /**
   * Drops the client (its upstream session ended: HTTP 404) without remembering a failure, so the
   * next request connects afresh at once (MCP transport, "Session Management").
   */
  discard(c: UpstreamClient): void {
    const k = key(c.userId, c.upstream.slug);
    const pending = this.clients.get(k);
    // At once (the caller connects again next), and only this client: a newer one is someone else's.
    if (pending && this.connected.get(pending) === c) this.clients.delete(k);
  }

  /** For the relay (bundle-relay.ts): the agent of the upstream's requests, SSRF-guarded for console upstreams, as fetchFor uses. */
  agentFor(upstream: Upstream, protocol: string): http.Agent {
    const agents = upstream.guarded ? this.guardedAgents : this.plainAgents;
    return protocol === 'https:' ? agents['https:'] : agents['http:'];
  }

  /** For the relay: the user's credential headers of this moment; throws CredentialGone (which failed() reads as "sign in"). */
  async credentialHeaders(upstream: Upstream, userId: string): Promise<Record<string, string>> {
    const credential = await this.credentials.headersFor(upstream, userId);
    if ('reauthorize' in credential) throw new CredentialGone(credential.reauthorize);
    return credential.headers;
  }

  /** For the relay: the upstream answered 401 to the credential (oauth: refreshed before the next request). */
  unauthorized(upstream: Upstream, userId: string): void {
    this.credentials.onUpstreamUnauthorized(upstream, userId);
  }

  /** Closes every client of an upstream (its settings changed), or of every upstream. */
  forgetUpstream(slug?: string): void {
    for (const k of [...this.clients.keys()]) if (slug === undefined || k.endsWith(`\0${slug}`)) this.clients.delete(k);
    for (const k of [...this.failures.keys()]) if (slug === undefined || k.endsWith(`\0${slug}`)) this.failures.delete(k);
  }

  /** Ends every upstream session (bounded wait) before the agents go. */
  async onModuleDestroy(): Promise<void> {
    const open = [...this.clients.values()];
    this.closing = true;
    this.clients.clear();
    await Promise.all(
      open.map((pending) =>
        pending.then(
          (c) => this.closeClient(c),
          () => undefined,
        ),
      ),
    );
    for (const agent of [...Object.values(this.plainAgents), ...Object.values(this.guardedAgents)]) agent.destroy();
  }

  private async connect(upstream: Upstream, userId: string): Promise<UpstreamClient> {
    const transport = new (sdkClientTransport().StreamableHTTPClientTransport)(new URL(upstream.url), { fetch: this.fetchFor(upstream, userId) });
    const client = new (sdkClient().Client)({ name: 'gatehouse-bundle', version: gatewayVersion() }, { capabilities: {} });
    const c: UpstreamClient = { upstream, userId, client, transport, lists: {} };
    // Errors of the background GET stream are not a call's: calls report their own.
    client.onerror = () => {};
    const changed = (kind: ListKind) => () => {
      delete c.lists[kind];
      for (const l of this.listeners) l(userId, upstream.slug, kind);
    };
    const { PromptListChangedNotificationSchema, ResourceListChangedNotificationSchema, ToolListChangedNotificationSchema } = sdkTypes();
    client.setNotificationHandler(ToolListChangedNotificationSchema, changed('tools'));
    client.setNotificationHandler(PromptListChangedNotificationSchema, changed('prompts'));
    client.setNotificationHandler(ResourceListChangedNotificationSchema, changed('resources'));
    try {
      await client.connect(transport, { timeout: Math.min(upstream.timeoutMs, CONNECT_DEADLINE_MS) });
    } catch (err) {
      await client.close().catch(() => undefined);
      throw err;
    }
    return c;
  }

  /**
   * Closes the client first (every stream of it aborted, no reconnection left scheduled), then ends
   * the upstream session (MCP transport, "Session Management": DELETE), best effort and bounded.
   * In the other order the SDK's client sees the upstream end its open streams gracefully and
   * schedules a reconnection for each, of which close() clears only the last.
   */
  private async closeClient(c: UpstreamClient): Promise<void> {
    const sessionId = c.transport.sessionId;
    const version = c.transport.protocolVersion;
    await c.client.close().catch(() => {});
    if (!sessionId) return;
    const headers: Record<string, string> = { 'mcp-session-id': sessionId, ...(version ? { 'mcp-protocol-version': version } : {}) };
    const deadline = AbortSignal.timeout(2000);
    await this.fetchFor(c.upstream, c.userId)(c.upstream.url, { method: 'DELETE', headers, signal: deadline }).then(
      (res) => res.body?.cancel(),
      () => undefined,
    );
  }

  /** node:http through the proxy's kind of agent, with the user's credential of this moment on every request. */
  private fetchFor(upstream: Upstream, userId: string): typeof fetch {
    const agents = upstream.guarded ? this.guardedAgents : this.plainAgents;
    const agentFor = (protocol: 'http:' | 'https:') => agents[protocol];
    return async (input, init) => {
      const credential = await this.credentials.headersFor(upstream, userId);
      if ('reauthorize' in credential) throw new CredentialGone(credential.reauthorize);
      const response = await nodeFetch({ agentFor, headers: credential.headers, maxBytes: MAX_ANSWER_BYTES })(input, init);
      // The upstream no longer takes our credential for this user (oauth: refreshed before the next request).
      if (response.status === 401) this.credentials.onUpstreamUnauthorized(upstream, userId);
      return response;
    };
  }

  /** What the user is told about a failure; the detail (addresses, codes) goes to the log only. */
  private unavailable(upstream: Upstream, userId: string, err: unknown): UpstreamUnavailable {
    if (err instanceof UpstreamUnavailable) return err;
    const cause = err instanceof Error && err.cause instanceof Error && !(err instanceof CredentialGone) ? err.cause : err;
    let failure: UpstreamUnavailable;
    if (cause instanceof CredentialGone) failure = new UpstreamUnavailable(upstream, cause.message, true);
    else if (cause instanceof sdkClientTransport().StreamableHTTPError && (cause.code === 401 || cause.code === 403)) {
      failure = new UpstreamUnavailable(upstream, `${upstream.name} refused your credential (HTTP ${cause.code})`, true);
    } else {
      const detail = cause instanceof OutboundAddressRefused ? 'its address is not a public one' : describeError(cause);
      this.logger.warn(`bundle: upstream ${upstream.slug} is unavailable: ${detail}`);
      failure = new UpstreamUnavailable(upstream, `${upstream.name} is unavailable right now (the gateway cannot reach it); try again later`, false);
      this.failures.set(key(userId, upstream.slug), failure);
    }
    return failure;
  }
}

/** The upstream credential went away between requests (e.g. its refresh was refused). */
export class CredentialGone extends Error {}

/** Not an answer of the upstream: the connection, HTTP, or the credential failed. */
function isTransportFailure(err: unknown): boolean {
  if (err instanceof UpstreamUnavailable || err instanceof CredentialGone || err instanceof sdkClientTransport().StreamableHTTPError) return true;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  // McpError codes are numbers; node's are strings (ECONNREFUSED, ECONNRESET…). "Connection closed" is -32000.
  return typeof code === 'string' || (err as { code?: unknown } | undefined)?.code === -32000;
}

function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as NodeJS.ErrnoException).code;
  return code ? `${code}: ${err.message}` : err.message;
}
