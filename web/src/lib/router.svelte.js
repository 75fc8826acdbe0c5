/**
 * A tiny client-side router on the history API, under the console's path /admin/ (below the
 * gateway's base path, see base-path.js).
 *
 * Hand-written on purpose: the Svelte 5 routers that exist are either bound to SvelteKit (the
 * console is a plain Vite app served as static files by the gateway) or hash-based (/admin/#/users
 * cannot be a clean shareable link, and the server already answers every /admin/* path with the
 * app). What is needed is small: match a path against a table, follow same-origin link clicks,
 * and react to back/forward.
 */

import { BASE_PATH } from './base-path.js';

/** The console's own path: /admin under the gateway's base path (e.g. /gatehouse/admin). */
export const BASE = `${BASE_PATH}/admin`;

/** The current location inside the console: `path` without the base ("/users/42"), `query` as a plain object. */
export const location = $state({ path: '/', search: '', query: /** @type {Record<string, string>} */ ({}) });

function read() {
  const path = window.location.pathname.startsWith(BASE) ? window.location.pathname.slice(BASE.length) || '/' : '/';
  const trimmed = path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
  location.path = trimmed === '/index.html' ? '/' : trimmed;
  location.search = window.location.search;
  location.query = Object.fromEntries(new URLSearchParams(window.location.search));
}

/** A console path ("/users?q=a") as an address ("/admin/users?q=a"). */
export function href(path) {
  return BASE + (path.startsWith('/') ? path : `/${path}`);
}

/**
 * Goes to a console path. `replace` keeps the history entry (filters typed into a form should not
 * each make a back-button step).
 */
export function navigate(path, { replace = false } = {}) {
  const url = href(path);
  if (url === window.location.pathname + window.location.search) return;
  history[replace ? 'replaceState' : 'pushState'](null, '', url);
  read();
  if (!replace) window.scrollTo(0, 0);
}

/** Sets (or, for empty values, removes) query parameters of the current path. */
export function setQuery(changes, { replace = true } = {}) {
  const params = new URLSearchParams(window.location.search);
  for (const [key, value] of Object.entries(changes)) {
    if (value === undefined || value === null || value === '') params.delete(key);
    else params.set(key, String(value));
  }
  const qs = params.toString();
  navigate(location.path + (qs ? `?${qs}` : ''), { replace });
}

/**
 * Matches `path` against route patterns such as "/users/:id"; the first match wins.
 * @template R
 * @param {Array<R & { path: string }>} routes
 * @returns {{ route: R & { path: string }, params: Record<string, string> } | null}
 */
export function match(routes, path) {
  const parts = path.split('/').filter(Boolean);
  for (const route of routes) {
    const pattern = route.path.split('/').filter(Boolean);
    if (pattern.length !== parts.length) continue;
    /** @type {Record<string, string>} */
    const params = {};
    let ok = true;
    for (let i = 0; i < pattern.length && ok; i++) {
      if (pattern[i].startsWith(':')) params[pattern[i].slice(1)] = decodeURIComponent(parts[i]);
      else ok = pattern[i] === parts[i];
    }
    if (ok) return { route, params };
  }
  return null;
}

/** Link clicks inside the console change the route without a page load; everything else stays a normal link. */
function onClick(event) {
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const a = /** @type {Element} */ (event.target).closest?.('a[href]');
  if (!a || (a.getAttribute('target') ?? '_self') !== '_self' || a.hasAttribute('download')) return;
  const url = new URL(/** @type {HTMLAnchorElement} */ (a).href);
  if (url.origin !== window.location.origin) return;
  // The admin API's addresses (e.g. the audit export) are real downloads, not console routes.
  if (!(url.pathname === BASE || url.pathname.startsWith(`${BASE}/`)) || url.pathname.startsWith(`${BASE}/api/`)) return;
  event.preventDefault();
  navigate(url.pathname.slice(BASE.length) + url.search);
}

export function startRouter() {
  read();
  window.addEventListener('popstate', read);
  document.addEventListener('click', onClick);
}
