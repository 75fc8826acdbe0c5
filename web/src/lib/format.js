/** Display helpers. The API's times are epoch milliseconds (ISO strings are accepted too). */

export function toDate(t) {
  if (t === null || t === undefined || t === '') return null;
  const d = new Date(typeof t === 'string' && /^\d+$/.test(t) ? Number(t) : t);
  return Number.isNaN(d.getTime()) ? null : d;
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const dateTimeSeconds = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
const compact = new Intl.DateTimeFormat(undefined, { dateStyle: 'short', timeStyle: 'medium' });

/** "Nov 26, 2025, 11:31 AM"; `compact`: "11/26/25, 11:31:04 AM" (for long tables); "—" for none. */
export function formatTime(t, { seconds = false, short = false } = {}) {
  const d = toDate(t);
  if (!d) return '—';
  return (short ? compact : seconds ? dateTimeSeconds : dateTime).format(d);
}

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
const STEPS = /** @type {const} */ ([
  ['second', 60],
  ['minute', 60],
  ['hour', 24],
  ['day', 30],
  ['month', 12],
  ['year', Infinity],
]);

/** "3 minutes ago"; "never" for none. */
export function timeAgo(t, now = Date.now()) {
  const d = toDate(t);
  if (!d) return 'never';
  let value = (d.getTime() - now) / 1000;
  for (const [unit, size] of STEPS) {
    if (Math.abs(value) < size) return relative.format(Math.round(value), unit);
    value /= size;
  }
  return formatTime(d);
}

const integer = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
export function formatNumber(n) {
  return typeof n === 'number' && Number.isFinite(n) ? integer.format(n) : '—';
}

/** 12 ms, 1.2 s */
export function formatMs(ms) {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) return '—';
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}

/** 0.5 % of requests */
export function formatRate(part, whole) {
  if (!whole) return '—';
  const pct = (100 * part) / whole;
  return `${pct < 10 ? pct.toFixed(1) : Math.round(pct)} %`;
}

/** epoch ms → the value of an <input type="datetime-local"> in local time. */
export function toLocalInput(ms) {
  const d = toDate(ms);
  if (!d) return '';
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** An <input type="datetime-local"> value → epoch ms (empty for none). */
export function fromLocalInput(value) {
  if (!value) return '';
  const ms = new Date(value).getTime();
  return Number.isNaN(ms) ? '' : String(ms);
}

export const ROLE_LABELS = { admin: 'Admin', auditor: 'Auditor', member: 'Member' };

/** Scopes in words, as the consent page says them; unknown ones as they are. */
const SCOPE_WORDS = { 'mcp:read': 'Read tools and resources', 'mcp:tools': 'Call tools' };
export function scopeWords(scope) {
  return String(scope ?? '')
    .split(/\s+/)
    .filter(Boolean)
    .map((s) => SCOPE_WORDS[s] ?? s)
    .join(', ');
}

/** A grant's state for people. */
export function grantState(grant) {
  if (grant.revokedAt) return { label: 'Revoked', kind: 'bad' };
  return { label: 'Active', kind: 'ok' };
}
