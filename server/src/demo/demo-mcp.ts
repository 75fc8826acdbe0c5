/**
 * Built-in demo MCP server, mounted by the gateway when `demo_upstream: true`.
 *
 * Stateless Streamable HTTP: a fresh low-level Server + transport per request. Uses the low-level
 * `Server` with hand-written JSON Schemas so it depends only on `@modelcontextprotocol/sdk`
 * (no direct zod import). The request body is normally read from the stream by the transport;
 * if something upstream already parsed it into `req.body`, that is passed through instead.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { CallToolRequestSchema, ListToolsRequestSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';

export interface DemoMcpHandler {
  handle(req: IncomingMessage & { body?: unknown }, res: ServerResponse): Promise<void>;
  close(): Promise<void>;
}

const TOOLS = [
  {
    name: 'echo',
    description: 'Echo the given text back.',
    inputSchema: {
      type: 'object' as const,
      properties: { text: { type: 'string', description: 'Text to echo' } },
      required: ['text'],
    },
  },
  {
    name: 'time',
    description: 'Return the current server time as an ISO 8601 string.',
    inputSchema: { type: 'object' as const, properties: {} },
  },
];

function buildServer(): Server {
  const server = new Server({ name: 'gatehouse-demo', version: '1.0.0' }, { capabilities: { tools: {} } });
  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: TOOLS }));
  server.setRequestHandler(CallToolRequestSchema, (request): CallToolResult => {
    const { name, arguments: args } = request.params;
    if (name === 'echo') {
      const text = args?.text;
      if (typeof text !== 'string') {
        return { isError: true, content: [{ type: 'text', text: 'echo: "text" must be a string' }] };
      }
      return { content: [{ type: 'text', text }] };
    }
    if (name === 'time') {
      return { content: [{ type: 'text', text: new Date().toISOString() }] };
    }
    return { isError: true, content: [{ type: 'text', text: `Unknown tool: ${name}` }] };
  });
  return server;
}

/** If a body parser already consumed the stream, hand its result to the transport; otherwise undefined. */
function preParsedBody(body: unknown): unknown {
  if (body === undefined) return undefined;
  if (Buffer.isBuffer(body) || typeof body === 'string') {
    const text = body.toString();
    try {
      return JSON.parse(text);
    } catch {
      return text; // the transport answers with a JSON-RPC parse error
    }
  }
  return body;
}

export function createDemoMcpHandler(): DemoMcpHandler {
  const live = new Set<Server>();

  return {
    async handle(req, res) {
      if (req.method !== 'POST') {
        res.writeHead(405, { 'content-type': 'application/json', allow: 'POST' });
        res.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed' }, id: null }));
        return;
      }
      const server = buildServer();
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
      live.add(server);
      res.on('close', () => {
        live.delete(server);
        void server.close().catch(() => undefined);
      });
      try {
        await server.connect(transport);
        await transport.handleRequest(req, res, preParsedBody(req.body));
      } catch {
        if (!res.headersSent) {
          res.writeHead(500, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32603, message: 'Internal error' }, id: null }));
        } else {
          res.end();
        }
      }
    },
    async close() {
      const servers = [...live];
      live.clear();
      await Promise.all(servers.map((s) => s.close().catch(() => undefined)));
    },
  };
}
