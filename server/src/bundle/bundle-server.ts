import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { sdkServer, sdkTypes } from '../common/mcp-sdk';
import { gatewayVersion } from '../common/version';
import { BundleCallerContext, BundleCatalogue, RequestExtra } from './bundle-catalogue';

const INSTRUCTIONS =
  'Every tool here belongs to one of the MCP servers behind this gateway: its name starts with that server\'s slug and "__" (e.g. notes__search). ' +
  'A tool named <slug>__unavailable stands for a server that cannot be used right now; its description says why and what to do.';

/**
 * The bundle's MCP server for one caller: the SDK's low-level Server (the lists are built per
 * caller at each request, so McpServer's static registry does not fit), answering from the
 * catalogue. One per session, or per request for stateless clients.
 */
export function createBundleServer(catalogue: BundleCatalogue, caller: BundleCallerContext, endStream: (requestId: string | number) => void): Server {
  const { CallToolRequestSchema, GetPromptRequestSchema, ListPromptsRequestSchema, ListResourcesRequestSchema, ListToolsRequestSchema, ReadResourceRequestSchema } = sdkTypes();
  const server = new (sdkServer().Server)(
    { name: 'gatehouse-bundle', title: 'Gatehouse', version: gatewayVersion() },
    { capabilities: { tools: { listChanged: true }, prompts: { listChanged: true }, resources: { listChanged: true } }, instructions: INSTRUCTIONS },
  );
  /**
   * A cancelled request gets no response (MCP "Cancellation"), and the SDK's transport keeps a POST's
   * event stream open until every response on it is sent: without this, each cancelled call would
   * leave its stream (and the client's connection) open for the life of the session.
   */
  const extraOf = (extra: unknown) => {
    const e = extra as RequestExtra & { requestId: string | number };
    e.signal.addEventListener('abort', () => endStream(e.requestId), { once: true });
    return e;
  };
  server.setRequestHandler(ListToolsRequestSchema, () => catalogue.listTools(caller));
  server.setRequestHandler(CallToolRequestSchema, (request, extra) => catalogue.callTool(caller, request.params.name, request.params.arguments, extraOf(extra)));
  server.setRequestHandler(ListPromptsRequestSchema, () => catalogue.listPrompts(caller));
  server.setRequestHandler(GetPromptRequestSchema, (request, extra) => catalogue.getPrompt(caller, request.params.name, request.params.arguments, extraOf(extra)));
  server.setRequestHandler(ListResourcesRequestSchema, () => catalogue.listResources(caller));
  server.setRequestHandler(ReadResourceRequestSchema, (request, extra) => catalogue.readResource(caller, request.params.uri, extraOf(extra)));
  return server;
}
