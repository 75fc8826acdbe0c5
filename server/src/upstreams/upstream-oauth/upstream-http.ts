import { UpstreamAuthUnavailableError } from './upstream-oauth.errors';

const HTTP_TIMEOUT_MS = 15_000;

export interface HttpAnswer {
  status: number;
  text: string;
  headers: Headers;
}

/** One request to an upstream or its authorization server; UpstreamAuthUnavailableError when it cannot be reached. */
export async function httpRequest(url: string, init: RequestInit): Promise<HttpAnswer> {
  let res: Response;
  try {
    res = await fetch(url, { ...init, redirect: init.method === 'POST' ? 'manual' : 'follow', signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new UpstreamAuthUnavailableError(`${url} is unreachable (${cause?.code ?? cause?.message ?? (err as Error).message})`);
  }
  return { status: res.status, text: await res.text(), headers: res.headers };
}

/** The body as a JSON object; null when it is anything else. */
export function parseJson(text: string): Record<string, any> | null {
  try {
    const v = JSON.parse(text);
    return v && typeof v === 'object' && !Array.isArray(v) ? v : null;
  } catch {
    return null;
  }
}
