import { isSameOriginPath } from '../common/same-origin-path';

/**
 * Where signing in lands when nothing else is pending: the admin console (members land on "My
 * access" there), under the gateway's base path (common/base-path.ts).
 */
export function consoleHome(basePath: string): string {
  return `${basePath}/admin/`;
}

/**
 * Only same-origin paths (see isSameOriginPath); the console otherwise. A return-to is a path as the
 * browser addresses it, base path included (`/gatehouse/authorize?...`).
 */
export function safeReturnTo(value: unknown, basePath: string): string {
  return isSameOriginPath(value) ? value : consoleHome(basePath);
}

/** The sign-in page, returning to `returnTo` (a same-origin path) once signed in. */
export function signInUrl(basePath: string, returnTo: string): string {
  return `${basePath}/login?return_to=${encodeURIComponent(safeReturnTo(returnTo, basePath))}`;
}
