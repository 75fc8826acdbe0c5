import { sdkClientTransport, sdkTypes } from '../../common/mcp-sdk';
import { OutboundAddressRefused } from '../../common/ssrf';
import { ConnectionTestResult, connectionFailure } from './connection-test-result';
import { ResponseTooLarge } from './node-fetch';

/** getaddrinfo's failures (Node passes the resolver's code through). */
const DNS_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NODATA', 'EAI_NONAME']);
/** OpenSSL's certificate verification codes (X509_V_ERR_* without the prefix), and Node's own TLS ones. */
const TLS_CODE = /^(ERR_TLS_|ERR_SSL_|EPROTO$|CERT_|DEPTH_ZERO_SELF_SIGNED_CERT$|SELF_SIGNED_CERT_IN_CHAIN$|UNABLE_TO_|HOSTNAME_MISMATCH$)/;
const MAX_MESSAGE = 600;

export const PRIVATE_NETWORK_HINT =
  'upstreams added in the console may only reach public addresses; to allow private and loopback addresses, set upstreams_policy.allow_private_networks: true in config.yaml';

export interface FailureContext {
  /** What was being done: 'initialize' or 'tools/list'. */
  step: string;
  /** The deadline fired (the abort that followed shows up as whatever error it caused). */
  timedOut: boolean;
  timeoutMs: number;
  /** The first network error the fetch saw: it is the cause, whatever the SDK made of it. */
  networkError: Error | null;
  /** Values that must not appear in a message (the credential sent). */
  secrets: string[];
}

/**
 * Sorts a failed test into the stage it failed at, with the message the admin needs to fix it:
 * Node's error message (which names the address, the TLS problem…), the HTTP status and the start
 * of the upstream's answer, or the MCP error. Never a stack; the credential's values are masked.
 */
export function classifyFailure(err: unknown, ctx: FailureContext): ConnectionTestResult {
  const [stage, message] = stageOf(err, ctx);
  return connectionFailure(stage, scrub(message, ctx.secrets));
}

function stageOf(err: unknown, ctx: FailureContext): [Parameters<typeof connectionFailure>[0], string] {
  const { ErrorCode, McpError } = sdkTypes();
  const { StreamableHTTPError } = sdkClientTransport();
  if (ctx.timedOut || (err instanceof McpError && err.code === Number(ErrorCode.RequestTimeout))) {
    return ['timeout', `no answer to ${ctx.step} within ${ctx.timeoutMs} ms`];
  }
  const network = ctx.networkError ?? (isNodeError(err) ? err : null);
  if (network) {
    if (network instanceof OutboundAddressRefused) return ['connect', `${network.message}: ${PRIVATE_NETWORK_HINT}`];
    const code = (network as NodeJS.ErrnoException).code ?? '';
    if (DNS_CODES.has(code)) return ['dns', `cannot resolve the host name (${network.message})`];
    if (TLS_CODE.test(code)) return ['tls', `TLS failed (${code}): ${network.message}`];
    return ['connect', network.message];
  }
  if (err instanceof StreamableHTTPError) {
    const status = err.code ?? -1;
    const detail = err.message.replace(/^Streamable HTTP error: /, '');
    if (status === 401 || status === 403) return ['auth', `the upstream refused the credential: HTTP ${status} to ${ctx.step} (${detail})`];
    if (status > 0) return ['http', `HTTP ${status} to ${ctx.step} (${detail})`];
    return ['protocol', `${ctx.step}: ${detail}`];
  }
  if (err instanceof ResponseTooLarge) return ['protocol', `${ctx.step}: ${err.message}`];
  if (err instanceof McpError) return ['protocol', `${ctx.step} failed: ${err.message}`];
  return ['protocol', `${ctx.step} failed: ${err instanceof Error ? err.message : String(err)}`];
}

/** A system error from a socket, DNS or TLS (has an errno-style code); not the SDK's own errors. */
function isNodeError(err: unknown): err is NodeJS.ErrnoException {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).code === 'string' && !(err instanceof sdkTypes().McpError);
}

/** Masks every secret value in a message, and keeps the message to one bounded line. */
export function scrub(message: string, secrets: string[]): string {
  let out = message;
  for (const secret of secrets) if (secret.length >= 3) out = out.split(secret).join('••••');
  out = out.replace(/\s+/g, ' ').trim();
  return out.length > MAX_MESSAGE ? `${out.slice(0, MAX_MESSAGE)}…` : out;
}
