/** Only same-origin paths: "/x" but never "//host" or "/\host" (open redirect). */
export function safeReturnTo(value: unknown): string {
  if (typeof value !== 'string' || !value.startsWith('/') || value.startsWith('//') || value.startsWith('/\\')) {
    return '/login';
  }
  return value;
}

/** The sign-in page, returning to `returnTo` (a same-origin path) once signed in. */
export function signInUrl(returnTo: string): string {
  return `/login?return_to=${encodeURIComponent(safeReturnTo(returnTo))}`;
}
