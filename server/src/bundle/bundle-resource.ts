import type { AuthSettings } from '../upstreams/auth-modes';
import type { Upstream } from '../upstreams/upstream';
import { DEFAULT_SCOPES } from '../proxy/required-scope';

/**
 * The bundle's place in the grants store: a grant, its codes and tokens name an upstream by slug,
 * and a bundle grant names this one. Upstream slugs are `[a-z0-9][a-z0-9-]*`, so a name starting
 * with `@` can never be an upstream's: nothing can confuse a bundle token with an upstream's.
 */
export const BUNDLE_SLUG = '@bundle';

/** The bundle's URL path: `/mcp` itself (`/mcp/{slug}` are the upstreams); named bundles are at `/mcp/b/{name}`. */
export const BUNDLE_PATH = '/mcp';
const NAMED_PATH = /^\/mcp\/b\/([a-z0-9][a-z0-9-]{0,62})\/?(?:\?.*)?$/;
/** A named bundle's name: like an upstream slug. */
export const BUNDLE_NAME_RULE = /^[a-z0-9][a-z0-9-]{0,62}$/;

/**
 * Which bundle a request path names: null for `/mcp` (every upstream), the name for `/mcp/b/{name}`,
 * undefined when the path is not a bundle's (`/mcp/x` is upstream x, the proxy's).
 */
export function bundleOfPath(url: string | undefined): string | null | undefined {
  if (!url || !url.startsWith(BUNDLE_PATH)) return undefined;
  const rest = url.slice(BUNDLE_PATH.length);
  if (rest === '' || rest === '/' || rest.startsWith('?') || rest.startsWith('/?')) return null;
  return NAMED_PATH.exec(url)?.[1];
}

export function isBundlePath(url: string | undefined): boolean {
  return bundleOfPath(url) !== undefined;
}

/** `@bundle` for `/mcp`, `@bundle/{name}` for a named bundle. */
export function bundleSlug(name: string | null): string {
  return name === null ? BUNDLE_SLUG : `${BUNDLE_SLUG}/${name}`;
}

export function isBundleSlug(slug: string): boolean {
  return slug === BUNDLE_SLUG || slug.startsWith(`${BUNDLE_SLUG}/`);
}

/** The upstream slugs a named bundle is made of (set by BundlesService on its targets); none for `/mcp`. */
export const BUNDLE_MEMBERS = new WeakMap<Upstream, readonly string[]>();

export function bundleResourceUrl(publicUrl: string, name: string | null = null): string {
  return name === null ? `${publicUrl}${BUNDLE_PATH}` : `${publicUrl}${BUNDLE_PATH}/b/${name}`;
}

/** RFC 9728 §3.1: the metadata of resource `<PUBLIC_URL>/mcp[/b/{name}]` is at `/.well-known/oauth-protected-resource/mcp[/b/{name}]`. */
export function bundleResourceMetadataUrl(publicUrl: string, name: string | null = null): string {
  return `${publicUrl}/.well-known/oauth-protected-resource${BUNDLE_PATH}${name === null ? '' : `/b/${name}`}`;
}

export const BUNDLE_NAME = 'All your MCP servers';

/**
 * The bundle as the authorization server sees it: an RFC 8707 resource that /authorize and /token
 * accept, consented to and granted like an upstream (the grant names BUNDLE_SLUG). Its auth mode is
 * `none` because the gateway itself serves it; each member upstream's credential is added when the
 * bundle calls it. It offers the built-in scopes only: a member upstream with scopes of its own is
 * left out of the bundle (bundle-members.ts), so a bundle token never stands in for a scope it lacks.
 */
export function bundleUpstream(publicUrl: string, noSettings: AuthSettings, name: string | null = null): Upstream {
  return {
    ...noSettings,
    slug: bundleSlug(name),
    name: name === null ? BUNDLE_NAME : `MCP servers bundle "${name}"`,
    url: bundleResourceUrl(publicUrl, name),
    enabled: true,
    timeoutMs: 300_000,
    scopes: [...DEFAULT_SCOPES],
    // Served by the gateway itself: no transport of its own.
    transport: 'http',
    process: null,
    authMode: 'none',
    allow: { users: [], emails: [], emailDomains: [], groups: [] },
    resource: bundleResourceUrl(publicUrl, name),
    source: 'config',
    guarded: false,
  };
}

/** The parameter of the bundle's /authorize naming the member upstreams whose sign-in the user skipped (comma-separated slugs). */
export const BUNDLE_SKIP_PARAM = 'gatehouse_skip';

/**
 * Whether an upstream can be part of the bundle: only with the built-in scopes, since a bundle token
 * holds no others (an upstream gated by scopes of its own is connected on its own).
 */
export function scopesOfItsOwn(upstream: Pick<Upstream, 'scopes'>): string[] {
  return upstream.scopes.filter((s) => !DEFAULT_SCOPES.includes(s));
}
