/**
 * The console's only way to the admin API (/admin/api/...): same-origin calls with the session
 * cookie, the CSRF token on every state-changing call, and errors turned into one shape pages can
 * show (ApiError: status, code, message, per-field problems).
 */

import { BASE_PATH } from './base-path.js';

const API = `${BASE_PATH}/admin/api`;
const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** The session's CSRF token, from GET /admin/api/session (see session.svelte.js). */
let csrfToken = '';
/** Fetches a fresh token after a "csrf" refusal (the session behind the cookie may have changed). */
let refreshCsrf = /** @type {null | (() => Promise<string>)} */ (null);

export function useCsrfToken(token, refresh) {
  csrfToken = token ?? '';
  if (refresh) refreshCsrf = refresh;
}

export class ApiError extends Error {
  /**
   * @param {number} status HTTP status; 0 when the gateway could not be reached
   * @param {string} code the API's `error` value, e.g. "invalid_request", "forbidden", "read_only"
   * @param {string} message for people
   * @param {Record<string, string>} [fields] field → problem, from a 400 `{fields}`
   */
  constructor(status, code, message, fields = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.fields = fields;
  }
  get forbidden() {
    return this.status === 403 && this.code !== 'csrf';
  }
  get notFound() {
    return this.status === 404;
  }
}

/** Query string of the non-empty values, e.g. `?q=a&limit=50`. */
export function queryString(params = {}) {
  const qs = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') qs.set(key, String(value));
  }
  const s = qs.toString();
  return s ? `?${s}` : '';
}

/** Sends the browser to the sign-in page, which brings it back to this very page. */
export function signInAgain() {
  const here = window.location.pathname + window.location.search;
  window.location.assign(`${BASE_PATH}/login?return_to=${encodeURIComponent(here)}`);
}

/**
 * @param {string} method
 * @param {string} path below /admin/api, e.g. "/users"
 * @param {{ query?: Record<string, unknown>, body?: unknown }} [options]
 */
export async function request(method, path, { query, body } = {}, retried = false) {
  /** @type {Record<string, string>} */
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (STATE_CHANGING.has(method)) headers['X-CSRF-Token'] = csrfToken;
  let res;
  try {
    res = await fetch(API + path + queryString(query), {
      method,
      headers,
      credentials: 'same-origin',
      cache: 'no-store',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, 'network', 'The gateway could not be reached. Check your connection and try again.');
  }
  if (res.status === 204) return null;
  const data = await readJson(res);
  if (res.ok) return data;

  if (res.status === 401) {
    signInAgain();
    throw new ApiError(401, 'unauthorized', 'Your session has ended. Taking you to the sign-in page…');
  }
  const code = typeof data?.error === 'string' ? data.error : String(res.status);
  if (res.status === 403 && code === 'csrf' && !retried && refreshCsrf) {
    csrfToken = await refreshCsrf();
    return request(method, path, { query, body }, true);
  }
  throw new ApiError(res.status, code, messageOf(res, data), fieldsOf(data));
}

async function readJson(res) {
  const text = await res.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function messageOf(res, data) {
  const m = data?.message ?? data?.error_description;
  if (Array.isArray(m)) return m.join('; ');
  if (typeof m === 'string' && m) return m;
  if (res.status === 403) return "You don't have access to this.";
  if (res.status === 404) return 'Not found.';
  if (res.status === 429) return 'Too many requests. Wait a moment and try again.';
  return `The gateway answered ${res.status}${res.statusText ? ` ${res.statusText}` : ''}.`;
}

function fieldsOf(data) {
  const fields = data?.fields;
  if (!fields || typeof fields !== 'object') return {};
  return Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, String(v)]));
}

export const api = {
  get: (path, query) => request('GET', path, { query }),
  post: (path, body) => request('POST', path, { body: body ?? {} }),
  put: (path, body) => request('PUT', path, { body: body ?? {} }),
  patch: (path, body) => request('PATCH', path, { body }),
  del: (path) => request('DELETE', path),
};

/** A path segment from a value (ids, slugs, client ids that are URLs). */
export const seg = (value) => encodeURIComponent(String(value));
