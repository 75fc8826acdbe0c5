/** Where a connection test failed, in the order a request gets there. */
export type ConnectionTestStage = 'dns' | 'connect' | 'tls' | 'http' | 'auth' | 'timeout' | 'protocol';

export interface ToolSummary {
  name: string;
  title: string | null;
  description: string | null;
}

/**
 * What POST /admin/api/upstreams/:slug/test answers, and what the upstream's status keeps: the
 * server and its tools, or where it failed and the exact message. Never a secret, never a stack.
 */
export type ConnectionTestResult =
  { ok: true; serverInfo: { name: string; version: string }; protocolVersion: string; tools: ToolSummary[] } | { ok: false; stage: ConnectionTestStage; message: string };

export function connectionFailure(stage: ConnectionTestStage, message: string): ConnectionTestResult {
  return { ok: false, stage, message };
}
