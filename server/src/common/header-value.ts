/**
 * What an HTTP field value may carry (RFC 9110 §5.5): visible ASCII (VCHAR, 0x21-0x7E),
 * with spaces and tabs between. obs-text (0x80-0xFF) is in the grammar only for old
 * messages and senders must not generate it; control characters and anything beyond
 * Latin-1 make Node refuse to send the request at all.
 */
const FIELD_VALUE = /^[\t\x20-\x7e]*$/;

export const HEADER_VALUE_PROBLEM = 'contains characters that cannot be sent in an HTTP header';

export function isSendableHeaderValue(value: string): boolean {
  return FIELD_VALUE.test(value);
}
