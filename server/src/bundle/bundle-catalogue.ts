import { Inject, Injectable, Optional } from '@nestjs/common';
import { sdkTypes } from '../common/mcp-sdk';
import type { CallToolResult, GetPromptResult, McpError, Prompt, ReadResourceResult, Resource, Tool } from '@modelcontextprotocol/sdk/types.js';
import type { AuditEventType } from '../audit/audit-event-type';
import { AuditService } from '../audit/audit.service';
import type { ToolArguments } from '../audit/tool-arguments';
import { ConfigService } from '../config/config.service';
import { GroupsService } from '../identity/groups.service';
import { AccessPolicyService } from '../upstreams/access-policy.service';
import { AuthModesService } from '../upstreams/auth-modes';
import { Upstream } from '../upstreams/upstream';
import { UpstreamsService } from '../upstreams/upstreams.service';
import { BUNDLE_MEMBERS, scopesOfItsOwn } from './bundle-resource';
import { BundlesService } from './bundles.service';
import { bundleSignInPath } from './bundle-signin.controller';
import { TOOL_REFUSED } from '../tool-policy/tool-gate.service';
import { ALLOW_EVERY_TOOL, BUNDLE_TOOL_FILTER, BundleToolFilter } from './bundle-tool-filter';
import { exposedName, findByExposedName, splitExposedName } from './tool-names';
import { ListKind, UpstreamClient, UpstreamClientPool, UpstreamUnavailable } from './upstream-clients';

/** The SDK's McpError (the SDK is loaded on first use, common/mcp-sdk.ts). */
const mcpError = (code: number, message: string) => new (sdkTypes().McpError)(code, message);

/** The holder of a bundle token, for one request or session. */
export interface BundleCallerContext {
  userId: string;
  clientId: string;
  ip: string | null;
  /** The named bundle called (`/mcp/b/{name}`), null for `/mcp` (every upstream). */
  bundle: string | null;
}

/** What the SDK server hands a request handler, as far as the bundle uses it. */
export interface RequestExtra {
  signal: AbortSignal;
  _meta?: { progressToken?: string | number };
  sendNotification: (notification: { method: 'notifications/progress'; params: Record<string, unknown> }) => Promise<void>;
}

/** The audit row of one routed request, completed by record() once it is over. */
export interface CallRow {
  caller: BundleCallerContext;
  upstream: Upstream;
  method: string;
  tool: string | null;
  started: number;
  /** tools/call: what the row keeps of the arguments (audit/tool-arguments.ts). */
  toolArguments?: ToolArguments;
}

/** An upstream out of the user's bundle right now, and what the user is told in its place. */
export interface Unavailable {
  upstream: string;
  name: string;
  message: string;
}

/** The tool standing in for an upstream that is out: its description says why and what to do. */
export const UNAVAILABLE_TOOL = 'unavailable';
/** Where tools/list, prompts/list and resources/list name the upstreams that are out. */
export const UNAVAILABLE_META = 'gatehouse/unavailable';

type Listed<K extends ListKind> = K extends 'tools' ? Tool : K extends 'prompts' ? Prompt : Resource;

/**
 * The bundle's content: the union of what every upstream the caller may use offers (tools and
 * prompts named `<slug>__<name>`, resources under their own URIs), and the routing of each call
 * to its upstream with that upstream's credential for the caller, under the allow-list, the tool
 * filter and the audit log, one row per call naming the real upstream and tool.
 */
@Injectable()
export class BundleCatalogue {
  private readonly listeners: Array<(userId: string | null) => void> = [];

  constructor(
    private readonly upstreams: UpstreamsService,
    private readonly policy: AccessPolicyService,
    private readonly authModes: AuthModesService,
    private readonly groups: GroupsService,
    private readonly pool: UpstreamClientPool,
    private readonly audit: AuditService,
    private readonly config: ConfigService,
    private readonly bundles: BundlesService,
    @Optional() @Inject(BUNDLE_TOOL_FILTER) private toolFilter: BundleToolFilter = ALLOW_EVERY_TOOL,
  ) {
    pool.onListChanged((userId) => this.changed(userId));
    bundles.onChange(() => this.changed(null));
    // A user who signs in to an upstream, or enters credentials for it, gets it back in their bundle.
    audit.onEvent((event) => {
      if ((event.type === 'upstream.signin' || event.type === 'credentials.change') && event.outcome === 'success' && event.userId) this.changed(event.userId);
    });
    upstreams.onChange((slug) => {
      pool.forgetUpstream(slug);
      this.changed(null);
    });
  }

  /** Called with a user id (or null: every user) whenever what that user's bundle offers may have changed. */
  onChange(listener: (userId: string | null) => void): void {
    this.listeners.push(listener);
  }

  /** Replaces the tool filter (the seam for a tool policy; see bundle-tool-filter.ts). */
  useToolFilter(filter: BundleToolFilter): void {
    this.toolFilter = filter;
  }

  /** The upstreams of the bundle the user may use (allow-lists), and those left out with the reason. */
  async members(caller: BundleCallerContext): Promise<{ members: Upstream[]; excluded: Unavailable[] }> {
    const members: Upstream[] = [];
    const excluded: Unavailable[] = [];
    const only = this.only(caller);
    for (const u of this.upstreams.list()) {
      if (only && !only.includes(u.slug)) continue;
      if (!(await this.policy.allows(u, caller.userId))) continue;
      // A bundle token holds the built-in scopes only; it must not open an upstream gated by scopes of its own.
      const own = scopesOfItsOwn(u);
      if (own.length) {
        excluded.push({ upstream: u.slug, name: u.name, message: `${u.name} asks for scopes of its own (${own.join(' ')}); connect it on its own at ${u.resource}` });
        continue;
      }
      members.push(u);
    }
    return { members, excluded };
  }

  async listTools(caller: BundleCallerContext): Promise<{ tools: Tool[]; _meta?: Record<string, unknown> }> {
    const { items, unavailable } = await this.union(caller, 'tools');
    const tools: Tool[] = [];
    const filter = this.toolFilter;
    const who = filter === ALLOW_EVERY_TOOL ? null : await this.callerOf(caller);
    for (const [upstream, tool] of items) {
      if (who && !(await filter.allows(upstream.slug, who, tool.name))) continue;
      tools.push({ ...tool, name: exposedName(upstream.slug, tool.name) });
    }
    for (const u of unavailable) tools.push(placeholderTool(u));
    return unavailable.length ? { tools, _meta: { [UNAVAILABLE_META]: unavailable } } : { tools };
  }

  async listPrompts(caller: BundleCallerContext): Promise<{ prompts: Prompt[]; _meta?: Record<string, unknown> }> {
    const { items, unavailable } = await this.union(caller, 'prompts');
    const prompts = items.map(([u, p]) => ({ ...p, name: exposedName(u.slug, p.name) }));
    return unavailable.length ? { prompts, _meta: { [UNAVAILABLE_META]: unavailable } } : { prompts };
  }

  /** Resources keep their URIs (a URI names the resource wherever it is listed); reads go to the upstream that listed it. */
  async listResources(caller: BundleCallerContext): Promise<{ resources: Resource[]; _meta?: Record<string, unknown> }> {
    const { items, unavailable } = await this.union(caller, 'resources');
    const resources = items.map(([, r]) => r);
    return unavailable.length ? { resources, _meta: { [UNAVAILABLE_META]: unavailable } } : { resources };
  }

  async callTool(caller: BundleCallerContext, name: string, args: Record<string, unknown> | undefined, extra: RequestExtra): Promise<CallToolResult> {
    const route = await this.routeCall(caller, name);
    if ('answer' in route) return route.answer;
    const { row, client } = route;
    return this.forward(row, client, extra, (options) =>
      // ResultSchema, not CallToolResultSchema: the result is passed on as it is and the caller's
      // client validates it; parsing every content block here too would only add latency.
      client.client.request({ method: 'tools/call', params: { name: row.tool, arguments: args } }, sdkTypes().ResultSchema, options).then((r) => r as CallToolResult),
    );
  }

  /**
   * Where a tools/call goes, after every check made before the upstream (the name, the named
   * bundle, the upstream's scopes, the allow-list, the tool filter; refusals audited): the upstream,
   * its connected client for the caller and the audit row to complete, or the answer in the
   * upstream's place (it is out). Unknown and denied names throw McpError (a JSON-RPC error).
   * Shared by the SDK server's handler (callTool) and the relay (bundle-relay.ts).
   */
  async routeCall(caller: BundleCallerContext, name: string): Promise<{ answer: CallToolResult } | { row: CallRow; client: UpstreamClient }> {
    const started = performance.now();
    const target = await this.target(caller, name, 'tools');
    if ('unavailable' in target) return { answer: { isError: true, content: [{ type: 'text', text: target.unavailable.message }] } };
    const { upstream, client, realName } = target;
    const row: CallRow = { caller, upstream, method: 'tools/call', tool: realName, started };
    const who = this.toolFilter === ALLOW_EVERY_TOOL ? null : await this.callerOf(caller);
    if (who && !(await this.toolFilter.allows(upstream.slug, who, realName))) {
      // As at /mcp/{slug} (tool-gate.service.ts): the type and code of a tool the policy denies.
      this.record(row, 403, 'mcp.tool.denied', { reason: 'tool policy' });
      throw mcpError(TOOL_REFUSED, `you are not allowed to call ${name}`);
    }
    return { row, client };
  }

  /**
   * A forwarded request failed without an answer of the upstream's own (the connection, HTTP, the
   * credential): audited, the upstream out of the user's bundle until it answers again, and what
   * the caller is told (a tool result with the message for tools/call, a JSON-RPC error otherwise).
   * Returns null for an error the upstream answered (the caller passes it on).
   */
  upstreamFailed(row: CallRow, client: UpstreamClient, err: unknown): { result: CallToolResult } | { error: McpError } | null {
    const failure = this.pool.failed(client, row.caller.userId, err);
    if (!(failure instanceof UpstreamUnavailable)) return null;
    const unavailable = this.describe(row.upstream, failure);
    this.record(row, 502, failure.needsUser ? 'upstream.credential' : 'mcp.request', { reason: unavailable.message });
    // The upstream just dropped out of this user's bundle.
    this.changed(row.caller.userId);
    if (row.method === 'tools/call') return { result: { isError: true, content: [{ type: 'text', text: unavailable.message }] } };
    return { error: mcpError(-32002, unavailable.message) };
  }

  async getPrompt(caller: BundleCallerContext, name: string, args: Record<string, string> | undefined, extra: RequestExtra): Promise<GetPromptResult> {
    const target = await this.target(caller, name, 'prompts');
    if ('unavailable' in target) throw mcpError(sdkTypes().ErrorCode.InvalidParams, target.unavailable.message);
    const row = { caller, upstream: target.upstream, method: 'prompts/get', tool: null, started: performance.now() };
    return this.forward(row, target.client, extra, (options) => target.client.client.getPrompt({ name: target.realName, arguments: args }, options));
  }

  async readResource(caller: BundleCallerContext, uri: string, extra: RequestExtra): Promise<ReadResourceResult> {
    const started = performance.now();
    const { members } = await this.members(caller);
    for (const upstream of members) {
      let listed: Resource[];
      try {
        listed = await this.pool.list(upstream, caller.userId, 'resources');
      } catch {
        continue; // an upstream that is out cannot be the one that listed it
      }
      if (!listed.some((r) => r.uri === uri)) continue;
      const client = await this.pool.client(upstream, caller.userId);
      return this.forward({ caller, upstream, method: 'resources/read', tool: null, started }, client, extra, (options) => client.client.readResource({ uri }, options));
    }
    throw mcpError(sdkTypes().ErrorCode.InvalidParams, `no MCP server in this bundle lists the resource ${uri}`);
  }

  /** Every member's list of one kind, in parallel; a member that fails is out, with a message in its place. */
  private async union<K extends ListKind>(caller: BundleCallerContext, kind: K): Promise<{ items: Array<[Upstream, Listed<K>]>; unavailable: Unavailable[] }> {
    const { members, excluded } = await this.members(caller);
    const unavailable = [...excluded];
    const items: Array<[Upstream, Listed<K>]> = [];
    const lists = await Promise.all(
      members.map((u) =>
        this.offers(u, caller.userId, kind).then(
          (list) => ({ u, list }),
          (err: unknown) => ({ u, err }),
        ),
      ),
    );
    for (const entry of lists) {
      if ('list' in entry) for (const item of entry.list) items.push([entry.u, item as Listed<K>]);
      else unavailable.push(this.describe(entry.u, entry.err));
    }
    return { items, unavailable };
  }

  /** The upstream's list of one kind, or none when it does not offer that kind (its capabilities say). */
  private async offers(upstream: Upstream, userId: string, kind: ListKind): Promise<unknown[]> {
    const c = await this.pool.client(upstream, userId);
    if (!c.client.getServerCapabilities()?.[kind]) return [];
    return this.pool.list(upstream, userId, kind);
  }

  /** The upstream and its own name for a bundled tool or prompt name; an unknown name is a JSON-RPC error (-32602). */
  private async target(
    caller: BundleCallerContext,
    name: string,
    kind: 'tools' | 'prompts',
  ): Promise<{ upstream: Upstream; client: UpstreamClient; realName: string } | { unavailable: Unavailable }> {
    const unknown = () => mcpError(sdkTypes().ErrorCode.InvalidParams, `no ${kind === 'tools' ? 'tool' : 'prompt'} named ${name} in this bundle`);
    const split = splitExposedName(name);
    const upstream = split ? this.upstreams.get(split.slug) : undefined;
    const only = this.only(caller);
    if (!split || !upstream || (only && !only.includes(upstream.slug))) throw unknown();
    if (scopesOfItsOwn(upstream).length) return { unavailable: (await this.members(caller)).excluded.find((e) => e.upstream === upstream.slug)! };
    if (!(await this.policy.allows(upstream, caller.userId))) {
      this.record(
        { caller, upstream, method: kind === 'tools' ? 'tools/call' : 'prompts/get', tool: kind === 'tools' ? split.rest : null, started: performance.now() },
        403,
        'policy.deny',
      );
      throw mcpError(-32003, `you are not allowed to use ${upstream.name}`);
    }
    let list: Array<{ name: string }>;
    let client: UpstreamClient;
    try {
      client = await this.pool.client(upstream, caller.userId);
      list = await this.pool.list(upstream, caller.userId, kind);
    } catch (err) {
      const unavailable = this.describe(upstream, err);
      if (kind === 'tools' && split.rest === UNAVAILABLE_TOOL) return { unavailable };
      const type = err instanceof UpstreamUnavailable && err.needsUser ? 'upstream.credential' : 'mcp.request';
      this.record(
        { caller, upstream, method: kind === 'tools' ? 'tools/call' : 'prompts/get', tool: kind === 'tools' ? split.rest : null, started: performance.now() },
        502,
        type,
        { reason: unavailable.message },
      );
      return { unavailable };
    }
    const realName = findByExposedName(
      upstream.slug,
      name,
      list.map((t) => t.name),
    );
    if (realName === undefined) throw unknown();
    return { upstream, client, realName };
  }

  /**
   * Sends one request upstream with the downstream request's progress token and cancellation: the
   * upstream's progress notifications go back to the caller as they come (with the caller's token),
   * and a cancellation by the caller (notifications/cancelled) is sent on upstream by the SDK client.
   */
  private async forward<T>(
    row: CallRow,
    client: UpstreamClient,
    extra: RequestExtra,
    send: (options: { signal: AbortSignal; timeout: number; resetTimeoutOnProgress: boolean; onprogress?: (p: Record<string, unknown>) => void }) => Promise<T>,
  ): Promise<T> {
    const progressToken = extra._meta?.progressToken;
    const onprogress =
      progressToken === undefined
        ? undefined
        : (p: Record<string, unknown>) => void extra.sendNotification({ method: 'notifications/progress', params: { ...p, progressToken } }).catch(() => undefined);
    try {
      const result = await send({ signal: extra.signal, timeout: row.upstream.timeoutMs, resetTimeoutOnProgress: true, onprogress });
      this.record(row, 200);
      return result;
    } catch (err) {
      if (extra.signal.aborted) {
        this.record(row, 499, 'mcp.request', { reason: 'cancelled by the client' });
        throw err;
      }
      if (err instanceof sdkTypes().McpError && err.code === Number(sdkTypes().ErrorCode.RequestTimeout)) {
        this.record(row, 504, 'upstream.timeout');
        throw mcpError(sdkTypes().ErrorCode.RequestTimeout, `${row.upstream.name} did not answer within ${row.upstream.timeoutMs / 1000} s`);
      }
      const failure = this.upstreamFailed(row, client, err);
      if (!failure) {
        // The upstream's own JSON-RPC error: passed on as it is (audited like the proxy's 200 with an error).
        this.record(row, 200);
        throw err;
      }
      if ('error' in failure) throw failure.error;
      return failure.result as T;
    }
  }

  /** The message in a failed upstream's place: what happened, and what the user can do. */
  private describe(upstream: Upstream, err: unknown): Unavailable {
    const base = { upstream: upstream.slug, name: upstream.name };
    if (!(err instanceof UpstreamUnavailable)) return { ...base, message: `${upstream.name} is unavailable right now; try again later` };
    if (!err.needsUser) return { ...base, message: err.message };
    const signIn = `${this.config.publicUrl}${bundleSignInPath(upstream.slug)}`;
    const asksForCredentials = this.authModes.for(upstream).consentFields(upstream).length > 0;
    const what = asksForCredentials ? `enter your credentials for ${upstream.name} at ${signIn}` : `sign in to ${upstream.name} at ${signIn}`;
    return { ...base, message: `${upstream.name} needs you first (${err.message}): ${what}` };
  }

  /** A named bundle's upstreams (as they are now: an admin may change them while sessions are open), or null for every one. */
  private only(caller: BundleCallerContext): readonly string[] | null {
    if (caller.bundle === null) return null;
    const target = this.bundles.target(caller.bundle);
    return target ? (BUNDLE_MEMBERS.get(target) ?? []) : [];
  }

  private async callerOf(caller: BundleCallerContext) {
    if (this.toolFilter.readsGroups === false) return { userId: caller.userId, groupIds: [] };
    return { userId: caller.userId, groupIds: (await this.groups.groupsOf(caller.userId)).map((g) => g.id) };
  }

  private changed(userId: string | null): void {
    for (const l of this.listeners) l(userId);
  }

  /** The audit row of a routed request (one per call, naming the real upstream and tool). */
  record(row: CallRow, status: number, type: AuditEventType = 'mcp.request', detail: Record<string, unknown> = {}): void {
    this.audit.record({
      type,
      outcome: status < 400 ? 'success' : 'failure',
      userId: row.caller.userId,
      clientId: row.caller.clientId,
      upstreamSlug: row.upstream.slug,
      mcpMethod: row.method,
      tool: row.tool,
      ...(row.toolArguments ? { toolArguments: row.toolArguments } : {}),
      status,
      durationMs: Math.round(performance.now() - row.started),
      ip: row.caller.ip,
      detail: { via: 'bundle', ...detail },
    });
  }
}

function placeholderTool(u: Unavailable): Tool {
  return {
    name: exposedName(u.upstream, UNAVAILABLE_TOOL),
    title: `${u.name} (unavailable)`,
    description: u.message,
    inputSchema: { type: 'object', properties: {} },
    annotations: { readOnlyHint: true },
  };
}
