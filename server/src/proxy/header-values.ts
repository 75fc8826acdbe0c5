import { IncomingHttpHeaders, validateHeaderName, validateHeaderValue } from 'node:http';

/**
 * The first header node would refuse to send, or null. RFC 9110 §5.5: a field value is visible
 * ASCII, spaces, tabs and obs-text; a control character, or a character beyond Latin-1 such as
 * "€", cannot be written at all. node's own validators are used, so the answer is exactly what
 * http.request would throw on.
 */
export function unsendableHeader(headers: IncomingHttpHeaders): string | null {
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    try {
      validateHeaderName(name);
      for (const one of Array.isArray(value) ? value : [value]) validateHeaderValue(name, one);
    } catch {
      return name;
    }
  }
  return null;
}
