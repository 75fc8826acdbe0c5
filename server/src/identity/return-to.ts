import { isSameOriginPath } from '../common/same-origin-path';

/** Where signing in lands when nothing else is pending: the admin console (members land on "My access" there). */
export const CONSOLE_HOME = '/admin/';

/** Only same-origin paths (see isSameOriginPath); the console otherwise. */
export function safeReturnTo(value: unknown): string {
  return isSameOriginPath(value) ? value : CONSOLE_HOME;
}

/** The sign-in page, returning to `returnTo` (a same-origin path) once signed in. */
export function signInUrl(returnTo: string): string {
  return `/login?return_to=${encodeURIComponent(safeReturnTo(returnTo))}`;
}
