/**
 * `value` without its trailing slashes: the one spelling of a base URL, origin, issuer path or
 * resource indicator that the gateway compares and joins paths to ("https://a/x/" and
 * "https://a/x" name the same thing to a person configuring them).
 */
export function withoutTrailingSlashes(value: string): string {
  return value.replace(/\/+$/, '');
}
