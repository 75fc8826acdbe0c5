/** Where signing in lands when nothing else is pending: the admin console (members land on "My access" there). */
export const CONSOLE_HOME = '/admin/';

/** Only same-origin paths: "/x" but never "//host" or "/\host" (open redirect); the console otherwise. */
export function safeReturnTo(value: unknown): string {
  if (typeof value !== 'string' || !value.startsWith('/') || value.startsWith('//') || value.startsWith('/\\')) {
    return CONSOLE_HOME;
  }
  return value;
}

/** The sign-in page, returning to `returnTo` (a same-origin path) once signed in. */
export function signInUrl(returnTo: string): string {
  return `/login?return_to=${encodeURIComponent(safeReturnTo(returnTo))}`;
}
