import { TestBrowser } from './browser';
import { call, HttpResult } from './raw-oauth';

/** A signed-in console session: its cookie and its CSRF token, as the admin console holds them. */
export interface ConsoleSession {
  browser: TestBrowser;
  cookie: string;
  csrfToken: string;
  user: { id: string; email: string; name: string | null; role: string };
}

/** Signs in through the real login form, then reads GET /admin/api/session like the console does. */
export async function signInToConsole(base: string, creds: { email: string; password: string }): Promise<ConsoleSession> {
  const browser = new TestBrowser();
  const done = await browser.submit(await browser.get(`${base}/login`), creds);
  if (done.status !== 303) throw new Error(`sign-in of ${creds.email} failed: ${done.status}`);
  return consoleSessionOf(base, browser);
}

/** The console session of a browser that is already signed in (e.g. after an invite link). */
export async function consoleSessionOf(base: string, browser: TestBrowser): Promise<ConsoleSession> {
  const cookie = browser.jar.header(`${base}/admin/api/session`)!;
  const res = await call(`${base}/admin/api/session`, { headers: { Cookie: cookie } });
  if (res.status !== 200) throw new Error(`GET /admin/api/session: ${res.status} ${res.text}`);
  return { browser, cookie, csrfToken: res.json.csrfToken, user: res.json.user };
}

export interface AdminCall {
  (method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<HttpResult>;
  /** Every response this caller received, to check none carries a secret. */
  readonly seen: HttpResult[];
}

/**
 * Calls /admin/api as the session's console would: its cookie, JSON, and the X-CSRF-Token header
 * on state-changing calls (pass headers to override or `session: null` for an anonymous caller).
 */
export function adminApi(base: string, session: ConsoleSession | null): AdminCall {
  const seen: HttpResult[] = [];
  const fn = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const init: RequestInit = {
      method,
      headers: {
        Accept: 'application/json',
        ...(session ? { Cookie: session.cookie } : {}),
        ...(session && method !== 'GET' ? { 'X-CSRF-Token': session.csrfToken } : {}),
        ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    };
    const res = await call(`${base}/admin/api${path}`, init);
    seen.push(res);
    return res;
  };
  return Object.assign(fn, { seen });
}

/** Follows nextCursor until the end, returning every item (and how many pages it took). */
export async function allPages(api: AdminCall, path: string, limit: number): Promise<{ items: any[]; pages: number }> {
  const items: any[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const sep = path.includes('?') ? '&' : '?';
    const res: HttpResult = await api('GET', `${path}${sep}limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${res.text}`);
    items.push(...res.json.items);
    cursor = res.json.nextCursor;
    pages++;
    if (pages > 100) throw new Error('pagination does not end');
  } while (cursor);
  return { items, pages };
}
