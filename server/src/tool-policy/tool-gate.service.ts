import { Injectable } from '@nestjs/common';
import type { AuditEventType } from '../audit/audit-event-type';
import type { JsonRpcMessage } from '../proxy/scope-gate';
import type { ListedTool } from '../proxy/tools-list-rewrite';
import { ToolCatalogueService } from './tool-catalogue.service';
import { ToolPolicyService } from './tool-policy.service';
import type { ToolCaller } from './tool-rule';

/**
 * The JSON-RPC error of a refused call. MCP (2025-11-25, "Tools", Error Handling) answers a call
 * to a tool the server does not offer with -32602 "Unknown tool": a denied or quarantined tool is
 * exactly that to this caller (tools/list no longer shows it), so clients and models handle it as
 * they already do; `data.reason` tells a person why.
 */
export const TOOL_REFUSED = -32602;
/** For the other calls of a batch that held a refused call: none of it ran (JSON-RPC 2.0 §6 lets the server answer each). */
const BATCH_NOT_RUN = -32600;

type RpcId = string | number | null;
const RECORD_EVERY_MS = 60_000;

export interface ToolRefusal {
  type: Extract<AuditEventType, 'mcp.tool.denied' | 'mcp.tool.quarantined'>;
  tool: string;
  /** What the audit row's `detail` says (the rule, or the pending version). */
  detail: Record<string, unknown>;
  /** The JSON-RPC response body the gateway sends instead of the upstream's. */
  body: unknown;
}

/** What the proxy needs to handle one request to an upstream whose tool traffic is read. */
export interface ToolRequestPlan {
  refusal?: ToolRefusal;
  /** Ids of the tools/list requests in this POST: their responses are filtered. Empty: nothing to rewrite. */
  listIds: Set<string | number>;
  /** The caller (for filtering the response). */
  caller: ToolCaller;
}

/**
 * Applies the tool policy (and the catalogue's pinning) to the JSON-RPC the proxy reads: refuses
 * calls before they reach the upstream and filters tools/list results. Used by the proxy; another
 * front (e.g. an aggregating MCP server) can call the same two methods.
 */
@Injectable()
export class ToolGateService {
  /** When each upstream's tools/list was last recorded with pinning off (one entry per upstream). */
  private readonly recordedAt = new Map<string, number>();

  constructor(
    private readonly policy: ToolPolicyService,
    private readonly catalogue: ToolCatalogueService,
  ) {}

  /** Whether requests to this upstream must be read (rules or pinning); if not, they stream untouched. */
  engaged(slug: string): boolean {
    return this.policy.engaged(slug);
  }

  /** Tool names known for this upstream (the catalogue's), for the console's preview. */
  knownTools(slug: string): string[] {
    return this.catalogue.names(slug);
  }

  async planRequest(slug: string, userId: string, messages: JsonRpcMessage[]): Promise<ToolRequestPlan> {
    const caller = await this.policy.callerOf(userId);
    const listIds = new Set<string | number>();
    let refusal: ToolRefusal | undefined;
    for (const m of messages) {
      if (m.method === 'tools/list' && (typeof m.id === 'string' || typeof m.id === 'number')) listIds.add(m.id);
      if (m.method !== 'tools/call' || refusal) continue;
      const name = toolNameOf(m);
      const refused = this.refuse(slug, caller, name);
      if (refused) refusal = { ...refused, tool: shown(name), body: null };
    }
    if (refusal) refusal.body = refusalBody(messages, refusal);
    return { refusal, listIds, caller };
  }

  /** The tools of a tools/list result this caller may see: the catalogue records them (and hides quarantined ones), then the policy filters. */
  visibleTools(slug: string, caller: ToolCaller, tools: ListedTool[]): ListedTool[] {
    if (this.policy.pinningOf(slug) !== 'off') tools = this.catalogue.observe(slug, tools);
    else if (this.dueForRecording(slug)) this.catalogue.observe(slug, tools);
    if (!this.policy.hasRules(slug)) return tools;
    const decide = this.policy.deciderFor(slug, caller);
    return tools.filter((t) => typeof t?.name === 'string' && decide(t.name).allowed);
  }

  /**
   * With pinning off the catalogue only feeds the console (names for the preview, definitions), so
   * it records an upstream's list at most once a minute: comparing 200 definitions on every list
   * would cost more than the policy itself.
   */
  private dueForRecording(slug: string): boolean {
    const now = Date.now();
    if (now - (this.recordedAt.get(slug) ?? 0) < RECORD_EVERY_MS) return false;
    this.recordedAt.set(slug, now);
    return true;
  }

  private refuse(slug: string, caller: ToolCaller, name: string): Omit<ToolRefusal, 'tool' | 'body'> | null {
    const decision = this.policy.decide(slug, caller, name);
    if (!decision.allowed) {
      return {
        type: 'mcp.tool.denied',
        detail: { tool: shown(name), rule: decision.rule ?? null, message: `tool ${shown(name)} is not available to you: the gateway's tool policy denies it` },
      };
    }
    if (!this.catalogue.isCallable(slug, name)) {
      return {
        type: 'mcp.tool.quarantined',
        detail: {
          tool: shown(name),
          pending: this.catalogue.pendingOf(slug, name),
          message: `tool ${shown(name)} changed at the upstream and is quarantined until an admin approves the change`,
        },
      };
    }
    return null;
  }
}

/** A client-chosen name as echoed in errors and audit rows: MCP tool names are at most 128 characters, so nothing longer is kept. */
const shown = (name: string) => (name.length > 128 ? `${name.slice(0, 128)}…` : name);

/** params.name of a tools/call; a missing or non-string name is checked as "" (no rule names it; the upstream answers it). */
function toolNameOf(m: JsonRpcMessage): string {
  const name = (m.params as { name?: unknown } | undefined)?.name;
  return typeof name === 'string' ? name : '';
}

function rpcIdOf(m: JsonRpcMessage): RpcId {
  return typeof m.id === 'string' || typeof m.id === 'number' ? m.id : null;
}

/**
 * The gateway's answer to a request holding a refused call: the error for it, id echoed; in a
 * batch, an error for every request (notifications get none, JSON-RPC 2.0 §6), because the
 * batch is not split: none of it reaches the upstream.
 */
function refusalBody(messages: JsonRpcMessage[], refusal: Omit<ToolRefusal, 'body'>): unknown {
  const reason = refusal.type === 'mcp.tool.denied' ? 'tool_policy' : 'tool_quarantined';
  const refused = (m: JsonRpcMessage) => ({
    jsonrpc: '2.0',
    id: rpcIdOf(m),
    error: { code: TOOL_REFUSED, message: `Unknown tool: ${refusal.detail.message as string}`, data: { reason, tool: refusal.tool } },
  });
  if (messages.length === 1) return refused(messages[0]);
  let first = true;
  return messages
    .filter((m) => typeof m.method === 'string' && 'id' in m)
    .map((m) => {
      if (first && m.method === 'tools/call' && shown(toolNameOf(m)) === refusal.tool) {
        first = false;
        return refused(m);
      }
      return {
        jsonrpc: '2.0',
        id: rpcIdOf(m),
        error: { code: BATCH_NOT_RUN, message: 'not run: this batch holds a tool call the gateway refused; send the other requests again without it' },
      };
    });
}
