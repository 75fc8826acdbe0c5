import { createHash } from 'node:crypto';

/** Between the upstream's slug and its tool's name. Slugs never hold `_`, so the first `__` ends the slug. */
export const SEPARATOR = '__';

/**
 * The longest name the bundle gives a tool. MCP allows 1–128 characters (2025-11-25, "Tool names"),
 * but the model APIs behind the best-known clients take at most 64 (OpenAI's function names,
 * Anthropic's tool names), so a longer name would make the whole bundle unusable there.
 */
export const MAX_NAME = 64;
const HASH_CHARS = 8;

/**
 * `<slug>__<name>`. When that would be longer than MAX_NAME, the name is cut and ends with `_` and
 * 8 hex characters of its SHA-256, so it stays unique and the same at every listing; the bundle
 * finds the tool again by computing the names of the upstream's tools (findByExposedName).
 */
export function exposedName(slug: string, name: string): string {
  const full = `${slug}${SEPARATOR}${name}`;
  if (full.length <= MAX_NAME) return full;
  const hash = createHash('sha256').update(name).digest('hex').slice(0, HASH_CHARS);
  return `${full.slice(0, MAX_NAME - HASH_CHARS - 1)}_${hash}`;
}

/** The slug a bundled name starts with, and the rest; null for a name the bundle did not make. */
export function splitExposedName(exposed: string): { slug: string; rest: string } | null {
  const at = exposed.indexOf(SEPARATOR);
  if (at <= 0) return null;
  const rest = exposed.slice(at + SEPARATOR.length);
  return rest ? { slug: exposed.slice(0, at), rest } : null;
}

/** The upstream's own name of `exposed` among `names` (its tools or prompts), if any. */
export function findByExposedName(slug: string, exposed: string, names: Iterable<string>): string | undefined {
  for (const name of names) if (exposedName(slug, name) === exposed) return name;
  return undefined;
}
