import http from 'node:http';
import https from 'node:https';

export interface NodeFetchOptions {
  /** The agent for each request (e.g. the SSRF-guarded one, common/ssrf). */
  agentFor(protocol: 'http:' | 'https:'): http.Agent;
  /** Headers added to every request (the upstream credential). */
  headers: Record<string, string>;
  /** Largest response body, in bytes, before the stream is cut with an error. */
  maxBytes: number;
}

/** The answer was larger than NodeFetchOptions.maxBytes. */
export class ResponseTooLarge extends Error {}

/**
 * A `fetch` for the MCP SDK's client transport, over node:http with the agent given. Hand-written
 * because Node's built-in fetch (undici) takes no http.Agent, so it cannot go through the SSRF
 * guard's checked connections, and the undici package (whose dispatcher could) is not installed.
 * It does what the SDK's Streamable HTTP transport needs and no more: string bodies, streamed
 * responses (SSE), AbortSignal, and no redirects followed (the SDK follows same-origin ones itself).
 * Network errors reject with Node's own error (its `code` tells DNS, TLS and connect failures apart).
 */
export function nodeFetch(opts: NodeFetchOptions): typeof fetch {
  return (input, init) =>
    new Promise<Response>((resolve, reject) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      if (url.protocol !== 'http:' && url.protocol !== 'https:') return reject(new TypeError(`${url.protocol} URLs are not fetched`));
      const body = init?.body;
      if (body !== undefined && body !== null && typeof body !== 'string') return reject(new TypeError('only string bodies are supported'));
      const signal = init?.signal ?? undefined;
      if (signal?.aborted) return reject(abortReason(signal));
      const method = (init?.method ?? 'GET').toUpperCase();
      const headers = { ...Object.fromEntries(new Headers(init?.headers ?? {})), ...opts.headers };
      const client = url.protocol === 'https:' ? https : http;
      const onAbort = () => req.destroy(abortReason(signal!));
      // The listener stays while a streamed answer is open: an abort must end that stream too.
      const stopListening = () => signal?.removeEventListener('abort', onAbort);
      const req = client.request(url, { method, headers, agent: opts.agentFor(url.protocol) }, (res) => {
        res.once('close', stopListening);
        try {
          resolve(toResponse(res, url, method, opts.maxBytes));
        } catch (err) {
          res.destroy();
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      });
      signal?.addEventListener('abort', onAbort, { once: true });
      // Before the answer; later errors end the body stream.
      req.once('error', (err) => {
        stopListening();
        reject(err);
      });
      req.end(body ?? undefined);
    });
}

function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error('aborted');
}

/** Statuses whose Response must have a null body (Fetch standard, "null body status"). */
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

function toResponse(res: http.IncomingMessage, url: URL, method: string, maxBytes: number): Response {
  const status = res.statusCode ?? 0;
  if (status < 200 || status > 599) throw new Error(`the upstream answered with HTTP status ${status}`);
  const headers = new Headers();
  for (const [name, value] of Object.entries(res.headers)) {
    for (const v of Array.isArray(value) ? value : value === undefined ? [] : [value]) headers.append(name, v);
  }
  let body: ReadableStream<Uint8Array> | null = null;
  if (NULL_BODY.has(status) || method === 'HEAD') res.resume();
  else body = webBody(res, maxBytes);
  const response = new Response(body, { status, headers });
  // Response.url is read-only and empty for a constructed Response; the SDK reads it to name redirect targets.
  Object.defineProperty(response, 'url', { value: url.href });
  return response;
}

/**
 * The answer as a web stream, with backpressure, cut (socket destroyed) once it exceeds maxBytes.
 * Written out rather than Readable.toWeb(): that one throws "Controller is already closed" when the
 * reader cancels (as the SDK does with bodies it does not read) while data is still arriving.
 */
function webBody(res: http.IncomingMessage, maxBytes: number): ReadableStream<Uint8Array> {
  let size = 0;
  let settled = false;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        controller.error(err);
        res.destroy();
      };
      res.on('data', (chunk: Buffer) => {
        if (settled) return;
        size += chunk.length;
        if (size > maxBytes) return fail(new ResponseTooLarge(`the answer exceeds ${maxBytes} bytes`));
        controller.enqueue(new Uint8Array(chunk));
        if ((controller.desiredSize ?? 1) <= 0) res.pause();
      });
      res.once('end', () => {
        if (settled) return;
        settled = true;
        controller.close();
      });
      res.once('error', fail);
      // A connection that ends before the answer does (reset, abort) must reach the reader, not leave it waiting.
      res.once('close', () => fail(new Error('the upstream closed the connection mid-answer')));
    },
    pull() {
      res.resume();
    },
    cancel() {
      settled = true;
      res.destroy();
    },
  });
}
