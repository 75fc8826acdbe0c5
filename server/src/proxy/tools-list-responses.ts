import type http from 'node:http';
import { Transform, TransformCallback } from 'node:stream';
import type { Logger } from '@nestjs/common';
import type { ToolGateService, ToolRequestPlan } from '../tool-policy/tool-gate.service';
import { jsonRpcError, sendJson } from './challenge';
import {
  anyToolsListResult,
  MAX_TOOLS_LIST_BYTES,
  ResponseMatcher,
  responseTo,
  rewritePayload,
  SseToolsListRewriter,
  ToolsFilter,
  ToolsListUnreadable,
} from './tools-list-rewrite';

/**
 * The response side of the tool policy: filters tools/list results to what the caller may use,
 * in JSON responses (buffered, bounded: only responses to a tools/list are) and in event streams
 * (event by event). Every other response streams as before.
 */
export class ToolsListResponses {
  constructor(
    private readonly gate: ToolGateService,
    private readonly logger: Logger,
  ) {}

  /** A POST holding a tools/list, or a GET stream (which may replay one): the responses the gateway rewrites. */
  mayRewrite(req: http.IncomingMessage, plan: ToolRequestPlan): boolean {
    return req.method === 'GET' || (req.method === 'POST' && plan.listIds.size > 0);
  }

  /**
   * The stream to pipe to the client in place of `upstream`'s body, or null when the gateway has
   * answered itself (a tools/list response it could not read is refused, never passed unfiltered).
   */
  rewrite(
    upstream: http.IncomingMessage,
    req: http.IncomingMessage,
    res: http.ServerResponse,
    plan: ToolRequestPlan,
    slug: string,
    eventStream: boolean,
  ): NodeJS.ReadableStream | null {
    const rpcId = plan.listIds.size === 1 ? [...plan.listIds][0] : null;
    const filter: ToolsFilter = (tools) => this.gate.visibleTools(slug, plan.caller, tools);
    const contentType = String(upstream.headers['content-type'] ?? '').toLowerCase();
    const coding = String(upstream.headers['content-encoding'] ?? 'identity').toLowerCase();
    const json = contentType.startsWith('application/json');
    if (!eventStream && !json) {
      // Streamable HTTP answers a POST with JSON or an event stream; a GET stream that is neither holds no tools/list.
      if (req.method === 'GET') return upstream;
      return this.refuse(upstream, res, slug, rpcId, `its Content-Type is ${contentType || 'missing'}, not JSON or an event stream`);
    }
    if (coding !== 'identity') return this.refuse(upstream, res, slug, rpcId, `it is ${coding}-encoded although the gateway asked for identity`);
    const matcher: ResponseMatcher = req.method === 'GET' ? anyToolsListResult : responseTo(plan.listIds);
    res.removeHeader('content-length');
    const transform = eventStream ? new SseToolsListRewriter(matcher, filter, req.method === 'GET' ? null : new Set(plan.listIds)) : new JsonToolsListRewriter(matcher, filter);
    transform.on('error', (err) => {
      upstream.unpipe(transform);
      if (res.headersSent) {
        upstream.destroy();
        return void res.destroy();
      }
      // The rest of the upstream's answer is dropped once the refusal is out (not before: its
      // close would otherwise read as the upstream breaking off, and cut the refusal).
      res.once('finish', () => upstream.destroy());
      this.refuse(upstream, res, slug, rpcId, err.message);
    });
    upstream.pipe(transform);
    return transform;
  }

  private refuse(upstream: http.IncomingMessage, res: http.ServerResponse, slug: string, rpcId: string | number | null, why: string): null {
    this.logger.warn(`upstream ${slug}: refused its tools/list response: ${why}`);
    upstream.resume();
    for (const name of res.getHeaderNames()) res.removeHeader(name);
    sendJson(res, 502, jsonRpcError(-32002, `upstream ${slug} sent a tools/list response the gateway cannot read`, rpcId));
    return null;
  }
}

/** Buffers a JSON response (up to MAX_TOOLS_LIST_BYTES) and emits it with the matching tools/list results filtered. */
class JsonToolsListRewriter extends Transform {
  private readonly chunks: Buffer[] = [];
  private size = 0;

  constructor(
    private readonly matches: ResponseMatcher,
    private readonly toolsFilter: ToolsFilter,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    this.size += chunk.length;
    if (this.size > MAX_TOOLS_LIST_BYTES) return callback(new ToolsListUnreadable(`it exceeds ${MAX_TOOLS_LIST_BYTES} bytes`));
    this.chunks.push(chunk);
    callback();
  }

  override _flush(callback: TransformCallback): void {
    const original = Buffer.concat(this.chunks);
    let rewritten: ReturnType<typeof rewritePayload>;
    try {
      rewritten = rewritePayload(original.toString('utf8'), this.matches, this.toolsFilter);
    } catch (err) {
      return callback(err as Error);
    }
    callback(null, rewritten ? Buffer.from(rewritten.text, 'utf8') : original);
  }
}
