import { api, ApiError } from './api.js';

/** An upstream's health for people, from its status block: the reachability probe, then the last connection test. */
export function upstreamHealth(u) {
  if (!u.enabled) return { label: 'Disabled', kind: '' };
  if (u.status?.probe && !u.status.probe.reachable) return { label: 'Unreachable', kind: 'bad' };
  if (u.status?.lastError) return { label: 'Failing', kind: 'bad' };
  if (u.status?.probe?.reachable) return { label: 'Reachable', kind: 'ok' };
  if (u.status?.lastCheckAt) return { label: 'OK', kind: 'ok' };
  return { label: 'Not checked', kind: 'warn' };
}

/** The last reachability probe in words: "reachable (HTTP 405 in 12 ms)" or "unreachable: connect ECONNREFUSED …"; null before the first. */
export function probeSummary(probe) {
  if (!probe) return null;
  if (!probe.reachable) return `unreachable: ${probe.error ?? 'no answer'}`;
  const parts = [probe.httpStatus ? `HTTP ${probe.httpStatus}` : null, probe.latencyMs !== null && probe.latencyMs !== undefined ? `in ${probe.latencyMs} ms` : null].filter(
    Boolean,
  );
  return `reachable${parts.length ? ` (${parts.join(' ')})` : ''}`;
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
