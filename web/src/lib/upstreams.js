import { api, ApiError } from './api.js';

/** An upstream's health for people, from its status block. */
export function upstreamHealth(u) {
  if (!u.enabled) return { label: 'Disabled', kind: '' };
  if (u.status?.lastError) return { label: 'Failing', kind: 'bad' };
  if (u.status?.lastCheckAt) return { label: 'OK', kind: 'ok' };
  return { label: 'Not checked', kind: 'warn' };
}

/** One upstream by slug, found in GET /upstreams (the contract has no GET of one; a gateway has few). */
export async function fetchUpstream(slug) {
  let cursor;
  do {
    const page = await api.get('/upstreams', { limit: 200, cursor });
    const found = (page?.items ?? []).find((u) => u.slug === slug);
    if (found) return found;
    cursor = page?.nextCursor;
  } while (cursor);
  throw new ApiError(404, 'not_found', `There is no upstream “${slug}”.`);
}
