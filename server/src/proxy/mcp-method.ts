import type { IncomingMessage } from 'node:http';
import { MAX_CAPTURED_BODY, toolArgumentsOf, ToolArguments, ToolArgumentsMode } from '../audit/tool-arguments';

const SNIFF_BYTES = 4096;
const METHOD = /"method"\s*:\s*"([^"\\]{1,128})"/;
const ID = /"id"\s*:\s*("(?:[^"\\]{0,128})"|-?\d{1,16})/;
/** params.name as the SDKs write a tools/call (`"params":{"name":"…"`): the cheap path, no parse. */
const TOOL_FIRST = /"params"\s*:\s*\{\s*"name"\s*:\s*"([^"\\]{1,128})"/;
const MAX_TOOL_NAME = 128;

/**
 * Learns the JSON-RPC method of a proxied POST for the audit log without holding up
 * the stream: it looks at the first chunk the proxy pipes upstream (the listener is
 * attached before the pipe, in the same tick, so the chunk is not missed). The
 * 2026-07-28 transport names the method in the Mcp-Method header too, but the body is
 * what the upstream executes, so the header is only the fallback when the first chunk
 * names no method (e.g. a compressed body) and for requests without one.
 * For tools/call it learns the tool's name too (see toolNameIn), and captures the body as it
 * passes (BodyCapture) for the audit row's digest of the arguments; other methods keep the
 * one-chunk sniff and nothing more.
 */
export function sniffMcpMethod(req: IncomingMessage, done: (method: string | null, id: unknown, tool: string | null, capture: BodyCapture | null) => void): void {
  const raw = req.headers['mcp-method'];
  const header = typeof raw === 'string' && raw ? raw : null;
  done(header, null, null, null);
  if (req.method !== 'POST') return;
  req.once('data', (chunk: Buffer) => {
    const head = chunk.toString('utf8', 0, SNIFF_BYTES);
    const method = METHOD.exec(head)?.[1] ?? (head.includes('"result"') || head.includes('"error"') ? 'response' : header);
    const id = ID.exec(head)?.[1];
    const toolCall = method === 'tools/call';
    done(method, id === undefined ? null : JSON.parse(id), toolCall ? toolNameIn(head, chunk.length <= SNIFF_BYTES) : null, toolCall ? new StreamedBodyCapture(req, chunk) : null);
  });
}

/** The start of a request body, kept for the audit row once the exchange is over. */
export interface BodyCapture {
  /** The bytes captured (at most MAX_CAPTURED_BODY) and whether they are the whole body; ends the capture. */
  take(): { bytes: Buffer; complete: boolean };
}

/**
 * Keeps references to the chunks of a streamed body as they pass on to the upstream (no copy, no
 * delay: a push per chunk), up to MAX_CAPTURED_BODY bytes; past that it stops listening and the
 * body counts as truncated. The digest is computed by take(), when the exchange is over, so the
 * request never waits for it.
 */
class StreamedBodyCapture implements BodyCapture {
  private chunks: Buffer[];
  private size: number;
  private overflow = false;

  constructor(
    private readonly req: IncomingMessage,
    first: Buffer,
  ) {
    this.chunks = [first];
    this.size = first.length;
    if (this.size > MAX_CAPTURED_BODY) this.stop(first.length);
    // Added while the first chunk is being emitted: node calls the listeners it had then, so this one starts at the second chunk.
    else req.on('data', this.onData);
  }

  private readonly onData = (chunk: Buffer): void => {
    this.chunks.push(chunk);
    this.size += chunk.length;
    if (this.size > MAX_CAPTURED_BODY) this.stop(chunk.length);
  };

  /** Over the cap: keep exactly MAX_CAPTURED_BODY bytes (the last chunk cut) and listen no more. */
  private stop(lastLength: number): void {
    this.overflow = true;
    this.req.off('data', this.onData);
    const excess = this.size - MAX_CAPTURED_BODY;
    this.chunks[this.chunks.length - 1] = this.chunks[this.chunks.length - 1].subarray(0, lastLength - excess);
    this.size = MAX_CAPTURED_BODY;
  }

  take(): { bytes: Buffer; complete: boolean } {
    this.req.off('data', this.onData);
    const bytes = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.size);
    this.chunks = [bytes];
    return { bytes, complete: !this.overflow && this.req.complete };
  }
}

/**
 * A body the gateway read whole (the scope check), as a capture. A longer one's first bytes are
 * copied: a view into it would keep all of it (up to 4 MiB) alive until the exchange ends.
 */
export function capturedBody(body: Buffer): BodyCapture {
  const complete = body.length <= MAX_CAPTURED_BODY;
  const bytes = complete ? body : Buffer.from(body.subarray(0, MAX_CAPTURED_BODY));
  return { take: () => ({ bytes, complete }) };
}

/**
 * The audit row's record of a tools/call's arguments (digest, and values in `values` mode) from
 * what was captured, and the tool's name when the body tells it (the first chunk may not have).
 */
export function toolCallAudit(capture: BodyCapture, mode: ToolArgumentsMode = 'digest'): { toolArguments: ToolArguments; tool: string | null } {
  const { bytes, complete } = capture.take();
  const { record, tool } = toolArgumentsOf(bytes, complete, mode);
  return { toolArguments: record, tool };
}

/**
 * The tool a tools/call names (params.name), for the access line and the audit row; null when the
 * first bytes do not tell. `whole`: `head` is the complete first chunk, worth parsing when the name
 * is not where SDKs put it. Bounded: at most SNIFF_BYTES are looked at, and the name is kept only
 * up to 128 characters.
 */
export function toolNameIn(head: string, whole: boolean): string | null {
  const first = TOOL_FIRST.exec(head)?.[1];
  if (first) return first;
  if (!whole) return null;
  try {
    const message = JSON.parse(head) as { params?: { name?: unknown } } | Array<{ params?: { name?: unknown } }>;
    const name = (Array.isArray(message) ? message[0] : message)?.params?.name;
    return typeof name === 'string' && name ? name.slice(0, MAX_TOOL_NAME) : null;
  } catch {
    return null; // a body in several chunks, or not JSON: the upstream answers that
  }
}

/** toolNameIn for a body the gateway read whole (the scope check). */
export function toolNameOfBody(body: Buffer): string | null {
  return toolNameIn(body.toString('utf8', 0, SNIFF_BYTES), body.length <= SNIFF_BYTES);
}
