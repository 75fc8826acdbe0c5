import { Transform, TransformCallback } from 'node:stream';

/** A tool as tools/list lists it; only `name` is relied on. */
export type ListedTool = { name: string } & Record<string, unknown>;
/** Which tools of a tools/list result the caller gets. */
export type ToolsFilter = (tools: ListedTool[]) => ListedTool[];
/** Whether a JSON-RPC response is one whose `result.tools` must be filtered. */
export type ResponseMatcher = (message: { id?: unknown; result?: unknown }) => boolean;

/** The most a tools/list response (or one SSE event) may hold when the gateway must read it: 200 tools with large schemas fit many times. */
export const MAX_TOOLS_LIST_BYTES = 16 * 1024 * 1024;

export class ToolsListUnreadable extends Error {}

/** Matches the responses to the given request ids (a POST's tools/list requests). */
export const responseTo =
  (ids: ReadonlySet<unknown>): ResponseMatcher =>
  (m) =>
    ids.has(m.id);

/**
 * Matches any response carrying a tools/list result: for a GET stream, where a server may replay
 * (resume, 2025-11-25 Streamable HTTP "Resumability") a response to an earlier POST's tools/list.
 */
export const anyToolsListResult: ResponseMatcher = (m) => 'id' in m && Array.isArray((m.result as { tools?: unknown } | undefined)?.tools);

function rewriteMessage(message: unknown, matches: ResponseMatcher, filter: ToolsFilter): { message: unknown; matched: boolean } {
  if (!message || typeof message !== 'object' || Array.isArray(message)) return { message, matched: false };
  const m = message as { id?: unknown; result?: { tools?: unknown } };
  if (!matches(m) || !m.result || !Array.isArray(m.result.tools)) return { message, matched: false };
  return { message: { ...m, result: { ...m.result, tools: filter(m.result.tools as ListedTool[]) } }, matched: true };
}

/**
 * A JSON-RPC payload (one message or a batch) with the matching tools/list results filtered; null
 * when nothing in it matched (the caller then forwards the original bytes). Throws
 * ToolsListUnreadable when it is not JSON: the gateway cannot tell what the client would read
 * there, so it refuses rather than pass an unfiltered list.
 */
export function rewritePayload(text: string, matches: ResponseMatcher, filter: ToolsFilter): { text: string; answered: unknown[] } | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ToolsListUnreadable('the upstream answered tools/list with a body that is not JSON');
  }
  const answered: unknown[] = [];
  const one = (msg: unknown) => {
    const r = rewriteMessage(msg, matches, filter);
    if (r.matched) answered.push((msg as { id?: unknown }).id);
    return r.message;
  };
  const out = Array.isArray(parsed) ? parsed.map(one) : one(parsed);
  // The client gets the gateway's serialisation of what it parsed, never the upstream's bytes: what it reads is what was filtered.
  return answered.length ? { text: JSON.stringify(out), answered } : null;
}

const EOL = /\r\n|\r|\n/g;

/**
 * Filters tools/list results inside a text/event-stream (WHATWG HTML §9.2 event stream format):
 * holds each event until its blank line, rewrites the `data` of an event answering a matching
 * request, and passes every other event on byte for byte as soon as it is complete (progress
 * notifications are not delayed). Once every awaited id is answered it passes bytes through
 * without looking. An event larger than MAX_TOOLS_LIST_BYTES ends the stream with an error.
 */
export class SseToolsListRewriter extends Transform {
  /** Bytes of the current incomplete event (latin1 keeps bytes 1:1 with characters for scanning). */
  private pending = '';
  private done = false;

  constructor(
    private readonly matches: ResponseMatcher,
    private readonly toolsFilter: ToolsFilter,
    /** Ids still awaited; null: never done (a GET stream). */
    private readonly awaited: Set<unknown> | null,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    if (this.done) return callback(null, chunk);
    this.pending += chunk.toString('latin1');
    try {
      this.drain(false);
    } catch (err) {
      return callback(err as Error);
    }
    if (this.pending.length > MAX_TOOLS_LIST_BYTES) return callback(new ToolsListUnreadable(`an event of the upstream's stream exceeds ${MAX_TOOLS_LIST_BYTES} bytes`));
    callback();
  }

  override _flush(callback: TransformCallback): void {
    try {
      this.drain(true);
    } catch (err) {
      return callback(err as Error);
    }
    // A last event without its blank line is not dispatched by a client (WHATWG §9.2.6): passed on as is.
    if (this.pending) this.push(Buffer.from(this.pending, 'latin1'));
    this.pending = '';
    callback();
  }

  /** Emits every complete event in `pending`. */
  private drain(ending: boolean): void {
    let eventStart = 0;
    let lineStart = 0;
    EOL.lastIndex = 0;
    for (let m = EOL.exec(this.pending); m; m = EOL.exec(this.pending)) {
      // A CR at the very end may be the first half of a CRLF still on its way.
      if (m[0] === '\r' && m.index === this.pending.length - 1 && !ending) break;
      const lineEnd = m.index;
      const next = m.index + m[0].length;
      if (lineEnd === lineStart) {
        // A blank line: the event from eventStart to next is complete.
        this.push(this.rewriteEvent(this.pending.slice(eventStart, next)));
        eventStart = next;
        if (this.done) break;
      }
      lineStart = next;
    }
    this.pending = this.pending.slice(eventStart);
    if (this.done && this.pending) {
      this.push(Buffer.from(this.pending, 'latin1'));
      this.pending = '';
    }
  }

  private rewriteEvent(raw: string): Buffer {
    const bytes = Buffer.from(raw, 'latin1');
    // Cheap test first: a tools/list result always has the member name "tools".
    if (!raw.includes('"tools"')) return bytes;
    const text = bytes.toString('utf8');
    const lines = text.split(/\r\n|\r|\n/);
    const data: string[] = [];
    const others: string[] = [];
    for (const line of lines) {
      if (line === '') continue;
      if (line.startsWith('data:')) data.push(line.slice(line[5] === ' ' ? 6 : 5));
      else others.push(line);
    }
    if (!data.length) return bytes;
    let rewritten: ReturnType<typeof rewritePayload>;
    try {
      rewritten = rewritePayload(data.join('\n'), this.matches, this.toolsFilter);
    } catch {
      return bytes; // data that is not JSON is no tools/list result the client could read
    }
    if (!rewritten) return bytes;
    if (this.awaited) {
      for (const id of rewritten.answered) this.awaited.delete(id);
      if (!this.awaited.size) this.done = true;
    }
    return Buffer.from(`${others.map((l) => `${l}\n`).join('')}data: ${rewritten.text}\n\n`, 'utf8');
  }
}
