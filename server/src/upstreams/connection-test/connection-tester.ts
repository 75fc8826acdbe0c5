import http from 'node:http';
import https from 'node:https';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { sdkClient, sdkClientTransport, sdkStdioClientTransport } from '../../common/mcp-sdk';
import { createGuardedAgent } from '../../common/ssrf';
import type { Upstream } from '../upstream';
import { connectionFailure, ConnectionTestResult, ToolSummary } from './connection-test-result';
import { classifyFailure } from './failure-stage';
import { nodeFetch } from './node-fetch';

/** A test is interactive: it waits at most this long (or the upstream's own timeout, if shorter). */
export const TEST_DEADLINE_MS = 15_000;
/** Enough for any real tool list, small enough to keep in the upstream's status row. */
const MAX_TOOLS = 500;
const MAX_PAGES = 20;
const MAX_DESCRIPTION = 1000;
const MAX_ANSWER_BYTES = 8 * 1024 * 1024;

// No keep-alive: tests are rare, and a socket kept open to a host an admin typed gains nothing.
const guardedAgents = { 'http:': createGuardedAgent('http:'), 'https:': createGuardedAgent('https:') };
const plainAgents = { 'http:': new http.Agent(), 'https:': new https.Agent() };

/**
 * Test connection: what an MCP client would do first — initialize, then tools/list — with the
 * official SDK client, against the upstream's URL with the credential given, through the SSRF
 * guard when the upstream is guarded. Any failure is sorted into a stage (failure-stage.ts).
 */
export async function testConnection(
  upstream: Pick<Upstream, 'url' | 'timeoutMs' | 'guarded'>,
  credential: Record<string, string>,
  /** Handed the full tool definitions listed (the tool catalogue records them); the result keeps summaries only. */
  onTools?: (tools: Array<Record<string, unknown> & { name: string }>) => void,
): Promise<ConnectionTestResult> {
  const timeoutMs = Math.min(upstream.timeoutMs, TEST_DEADLINE_MS);
  const ctx = { step: 'initialize', timedOut: false, timeoutMs, networkError: null as Error | null, secrets: secretsIn(credential) };
  const agents = upstream.guarded ? guardedAgents : plainAgents;
  const fetchThrough = nodeFetch({ agentFor: (protocol) => agents[protocol], headers: credential, maxBytes: MAX_ANSWER_BYTES });
  const deadline = new AbortController();
  const timer = setTimeout(() => {
    ctx.timedOut = true;
    deadline.abort(new Error(`no answer within ${timeoutMs} ms`));
  }, timeoutMs);
  const fetchWithDeadline: typeof fetch = async (input, init) => {
    try {
      return await fetchThrough(input, { ...init, signal: init?.signal ? AbortSignal.any([init.signal, deadline.signal]) : deadline.signal });
    } catch (err) {
      ctx.networkError ??= err as Error;
      throw err;
    }
  };

  const transport = new (sdkClientTransport().StreamableHTTPClientTransport)(new URL(upstream.url), { fetch: fetchWithDeadline });
  const client = new (sdkClient().Client)({ name: 'gatehouse-connection-test', version: '1' }, { capabilities: {} });
  // Errors of the background GET stream are not the test's: the requests' own outcome is.
  client.onerror = () => {};
  const options = { signal: deadline.signal, timeout: timeoutMs };
  try {
    await client.connect(transport, options);
    const serverInfo = client.getServerVersion();
    const protocolVersion = transport.protocolVersion ?? '';
    ctx.step = 'tools/list';
    // Errors after initialize are the upstream's; the earlier network error (if any) is not their cause.
    ctx.networkError = null;
    const tools = await listTools(client, options, onTools);
    return { ok: true, serverInfo: { name: serverInfo?.name ?? '', version: serverInfo?.version ?? '' }, protocolVersion, tools };
  } catch (err) {
    return classifyFailure(err, ctx);
  } finally {
    clearTimeout(timer);
    await endSession(transport, client);
  }
}

/**
 * Test connection of a stdio upstream: its command run once with the environment a session's
 * process would get (the SDK's stdio client transport), initialize + tools/list, then stopped.
 * The stderr it wrote is not shown here (it may hold anything; the process view shows it to admins).
 */
export async function testStdioConnection(
  spec: { command: string; args: string[]; cwd: string; env: Record<string, string> },
  upstreamTimeoutMs: number,
  onTools?: (tools: Array<Record<string, unknown> & { name: string }>) => void,
): Promise<ConnectionTestResult> {
  const timeoutMs = Math.min(upstreamTimeoutMs, TEST_DEADLINE_MS);
  const transport = new (sdkStdioClientTransport().StdioClientTransport)({ command: spec.command, args: spec.args, cwd: spec.cwd, env: spec.env, stderr: 'ignore' });
  const client = new (sdkClient().Client)({ name: 'gatehouse-connection-test', version: '1' }, { capabilities: {} });
  client.onerror = () => {};
  const deadline = AbortSignal.timeout(timeoutMs);
  try {
    await client.connect(transport, { signal: deadline, timeout: timeoutMs });
    const serverInfo = client.getServerVersion();
    const tools = await listTools(client, { signal: deadline, timeout: timeoutMs }, onTools);
    return { ok: true, serverInfo: { name: serverInfo?.name ?? '', version: serverInfo?.version ?? '' }, protocolVersion: '', tools };
  } catch (err) {
    const message = (err as Error).message || String(err);
    if (deadline.aborted || /timed? ?out/i.test(message)) return connectionFailure('timeout', `no answer within ${timeoutMs} ms`);
    if (/ENOENT|EACCES|spawn/.test(message)) return connectionFailure('connect', `the command could not be started: ${message.slice(0, 300)}`);
    return connectionFailure('protocol', message.slice(0, 500));
  } finally {
    await client.close().catch(() => {});
  }
}

async function listTools(
  client: Client,
  options: { signal: AbortSignal; timeout: number },
  onTools?: (tools: Array<Record<string, unknown> & { name: string }>) => void,
): Promise<ToolSummary[]> {
  const tools: ToolSummary[] = [];
  const definitions: Array<Record<string, unknown> & { name: string }> = [];
  let cursor: string | undefined;
  for (let page = 0; page < MAX_PAGES && tools.length < MAX_TOOLS; page++) {
    const result = await client.listTools(cursor === undefined ? undefined : { cursor }, options);
    for (const t of result.tools.slice(0, MAX_TOOLS - tools.length)) {
      definitions.push(t);
      tools.push({ name: t.name, title: t.title ?? t.annotations?.title ?? null, description: t.description ? t.description.slice(0, MAX_DESCRIPTION) : null });
    }
    cursor = result.nextCursor;
    if (!cursor) break;
  }
  onTools?.(definitions);
  return tools;
}

/** Ends the upstream session (DELETE, best effort and bounded) and the client's open GET stream. */
async function endSession(transport: StreamableHTTPClientTransport, client: Client): Promise<void> {
  if (transport.sessionId) {
    const timer = new Promise<void>((resolve) => setTimeout(resolve, 2000).unref());
    await Promise.race([transport.terminateSession().catch(() => {}), timer]);
  }
  await client.close().catch(() => {});
}

/** The credential's values, and the long words in them (e.g. the token after "Bearer "), for masking. */
function secretsIn(credential: Record<string, string>): string[] {
  return Object.values(credential).flatMap((v) => [v, ...v.split(/\s+/).filter((word) => word.length >= 8)]);
}
