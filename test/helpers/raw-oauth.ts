import { createHash, randomBytes } from 'node:crypto';
import { TestBrowser } from './browser';
import { authorizeInBrowser } from './oauth-client';

/** Plain-HTTP OAuth steps, for tests that need to send exactly what they choose. */
export interface HttpResult {
  status: number;
  headers: Headers;
  json: any;
  text: string;
}

export async function call(url: string, init: RequestInit = {}): Promise<HttpResult> {
  const res = await fetch(url, { redirect: 'manual', ...init });
  const text = await res.text();
  let json: any = undefined;
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, headers: res.headers, json, text };
}

export function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

export async function register(base: string, body: unknown): Promise<HttpResult> {
  return call(`${base}/register`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

export async function registerPublicClient(base: string, redirectUri = 'http://127.0.0.1:9999/callback', extra: Record<string, unknown> = {}) {
  const res = await register(base, { client_name: 'raw test client', redirect_uris: [redirectUri], token_endpoint_auth_method: 'none', ...extra });
  if (res.status !== 201) throw new Error(`registration failed: ${res.status} ${res.text}`);
  return res.json as { client_id: string; client_secret?: string; redirect_uris: string[] };
}

export function authorizeUrl(base: string, params: Record<string, string | undefined>): string {
  const url = new URL(`${base}/authorize`);
  for (const [k, v] of Object.entries(params)) if (v !== undefined) url.searchParams.set(k, v);
  return url.toString();
}

/** Runs /authorize through login and consent and returns the code. */
export async function obtainCode(
  base: string,
  browser: TestBrowser,
  creds: { email: string; password: string },
  p: { clientId: string; redirectUri: string; challenge: string; resource?: string; state?: string; scope?: string },
): Promise<string> {
  const url = authorizeUrl(base, {
    response_type: 'code',
    client_id: p.clientId,
    redirect_uri: p.redirectUri,
    code_challenge: p.challenge,
    code_challenge_method: 'S256',
    state: p.state ?? 'st',
    resource: p.resource,
    scope: p.scope,
  });
  const result = await authorizeInBrowser(browser, url, creds, { redirectUri: p.redirectUri });
  if (!result.code) throw new Error(`no code: ${result.error} ${result.errorDescription}`);
  return result.code;
}

/**
 * An access token for `resource`: a public client registered, /authorize through sign-in and
 * consent in a TestBrowser, the code exchanged at /token (throws when it is not issued).
 */
export async function accessTokenFor(base: string, creds: { email: string; password: string }, p: { resource: string; redirectUri?: string }): Promise<string> {
  const redirectUri = p.redirectUri ?? 'http://127.0.0.1:9999/callback';
  const client = await registerPublicClient(base, redirectUri);
  const { verifier, challenge } = pkce();
  const code = await obtainCode(base, new TestBrowser(), creds, { clientId: client.client_id, redirectUri, challenge, resource: p.resource });
  const issued = await tokenRequest(base, {
    grant_type: 'authorization_code',
    code,
    code_verifier: verifier,
    redirect_uri: redirectUri,
    client_id: client.client_id,
    resource: p.resource,
  });
  if (issued.status !== 200 || typeof issued.json?.access_token !== 'string') throw new Error(`token: ${issued.status} ${issued.text}`);
  return issued.json.access_token as string;
}

export async function tokenRequest(base: string, params: Record<string, string | undefined>, headers: Record<string, string> = {}): Promise<HttpResult> {
  const body = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) body.set(k, v);
  return call(`${base}/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers },
    body,
  });
}

export async function mcpPost(url: string, token: string | null, body: unknown = initializeRequest(), headers: Record<string, string> = {}) {
  return call(url, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      Accept: 'application/json, text/event-stream',
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
      ...headers,
    },
    body: JSON.stringify(body),
  });
}

export function initializeRequest(id = 1) {
  return {
    jsonrpc: '2.0',
    id,
    method: 'initialize',
    params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '0' } },
  };
}
