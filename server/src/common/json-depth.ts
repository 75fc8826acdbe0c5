const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const OPEN_ARRAY = 0x5b;
const CLOSE_OBJECT = 0x7d;
const CLOSE_ARRAY = 0x5d;
const MAX_KEY_SHOWN = 64;

export interface TooDeep {
  /** The top-level member the excess nesting is in, when the body is an object. */
  key: string | null;
}

/**
 * Whether UTF-8 JSON text nests objects/arrays deeper than `maxDepth`, scanned before
 * JSON.parse. Hand-written because neither JSON.parse nor express.json can bound depth
 * (a reviver runs after the whole tree is built), and no maintained parser with a depth
 * option is among our dependencies; the scan is one pass over a body already capped in size.
 * It only counts brackets outside strings: malformed JSON is left for JSON.parse to refuse.
 * Works on bytes because in UTF-8 no byte of a multi-byte character is below 0x80.
 */
export function jsonTooDeep(bytes: Uint8Array, maxDepth: number): TooDeep | null {
  let depth = 0;
  let inString = false;
  let escaped = false;
  let stringStart = 0;
  let topIsObject = false;
  let lastTopLevelString: [number, number] | null = null;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (inString) {
      if (escaped) escaped = false;
      else if (b === BACKSLASH) escaped = true;
      else if (b === QUOTE) {
        inString = false;
        // Inside the top-level object, the last string closed at depth 1 before a nested
        // value is that value's member name.
        if (depth === 1 && topIsObject) lastTopLevelString = [stringStart, i];
      }
      continue;
    }
    if (b === QUOTE) {
      inString = true;
      stringStart = i + 1;
    } else if (b === OPEN_OBJECT || b === OPEN_ARRAY) {
      if (depth === 0) topIsObject = b === OPEN_OBJECT;
      if (++depth > maxDepth) {
        const key = lastTopLevelString ? Buffer.from(bytes.subarray(lastTopLevelString[0], lastTopLevelString[1])).toString('utf8').slice(0, MAX_KEY_SHOWN) : null;
        return { key };
      }
    } else if (b === CLOSE_OBJECT || b === CLOSE_ARRAY) {
      depth--;
    }
  }
  return null;
}
