/** Only same-origin paths: "/x" but never "//host" or "/\host" (open redirect). */
export function safeReturnTo(value: unknown): string {
  if (typeof value !== 'string' || !value.startsWith('/') || value.startsWith('//') || value.startsWith('/\\')) {
    return '/login';
  }
  return value;
}
