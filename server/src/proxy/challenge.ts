import type { ServerResponse } from 'node:http';

/** RFC 6750 §3 / RFC 9728 §5.1 bearer challenge pointing the client at the resource metadata. */
export function bearerChallenge(fields: { error?: string; description?: string; scope?: string; resourceMetadata: string }): string {
  const parts: string[] = [];
  if (fields.error) parts.push(`error="${fields.error}"`);
  if (fields.description) parts.push(`error_description="${fields.description.replace(/["\\]/g, '')}"`);
  if (fields.scope) parts.push(`scope="${fields.scope}"`);
  parts.push(`resource_metadata="${fields.resourceMetadata}"`);
  return `Bearer ${parts.join(', ')}`;
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(payload),
    'Cache-Control': 'no-store',
  });
  res.end(payload);
}

/** A JSON-RPC 2.0 error body, for failures an MCP client should read as a transport error. */
export function jsonRpcError(code: number, message: string, id: string | number | null = null) {
  return { jsonrpc: '2.0', error: { code, message }, id };
}
