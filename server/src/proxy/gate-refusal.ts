/** JSON-RPC 2.0 §5.1 error codes, and MCP's HeaderMismatch (2026-07-28 Streamable HTTP, "Server Validation"). */
export const PARSE_ERROR = -32700;
export const INVALID_REQUEST = -32600;
export const HEADER_MISMATCH = -32020;

/**
 * A request the gateway refuses before it reaches the upstream because it cannot
 * read it as the JSON-RPC it decides scopes from: answered with `status` and a
 * JSON-RPC error body (plus `headers`), and audited.
 */
export class GateRefusal extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    message: string,
    readonly rpcId: string | number | null = null,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}
