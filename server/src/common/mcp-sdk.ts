/* eslint-disable @typescript-eslint/no-require-imports */
/**
 * The MCP SDK, each part required on first use. With zod, ajv and hono it costs about 13 MB of
 * RSS when loaded, and a default gateway (no stdio upstream, nobody using the bundle at /mcp, no
 * connection test from the console) never runs any of it: the proxy at /mcp/{slug} streams bytes.
 * So the files that use the SDK import its types only (`import type`, erased at compile time) and
 * take its values from here, inside the code path that needs them. Node caches the modules, so a
 * call after the first is a lookup.
 */
import type * as ClientIndex from '@modelcontextprotocol/sdk/client/index.js';
import type * as ClientStdio from '@modelcontextprotocol/sdk/client/stdio.js';
import type * as ClientStreamableHttp from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type * as ServerIndex from '@modelcontextprotocol/sdk/server/index.js';
import type * as ServerStreamableHttp from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type * as Types from '@modelcontextprotocol/sdk/types.js';

export const sdkTypes = () => require('@modelcontextprotocol/sdk/types.js') as typeof Types;
export const sdkServer = () => require('@modelcontextprotocol/sdk/server/index.js') as typeof ServerIndex;
export const sdkServerTransport = () => require('@modelcontextprotocol/sdk/server/streamableHttp.js') as typeof ServerStreamableHttp;
export const sdkClient = () => require('@modelcontextprotocol/sdk/client/index.js') as typeof ClientIndex;
export const sdkClientTransport = () => require('@modelcontextprotocol/sdk/client/streamableHttp.js') as typeof ClientStreamableHttp;
export const sdkStdioClientTransport = () => require('@modelcontextprotocol/sdk/client/stdio.js') as typeof ClientStdio;
