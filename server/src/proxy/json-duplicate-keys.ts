/** RFC 8259 §2: the only whitespace allowed between tokens. */
const WHITESPACE = new Set([' ', '\t', '\n', '\r']);

/**
 * Whether any object in a JSON text repeats a member name. RFC 8259 §4 leaves such a
 * text's meaning to the parser: JSON.parse keeps the last value, other parsers the
 * first or fail, so `{"method":"tools/call","method":"tools/list"}` could be one method
 * to the gateway and another to the upstream. JSON.parse cannot report duplicates and
 * no runtime dependency here does, hence this scan.
 *
 * `text` must already be valid JSON (JSON.parse accepted it), so the scan only tracks
 * nesting and strings: in an object, a string followed by `:` is a member name.
 */
export function hasDuplicateKey(text: string): boolean {
  const open: (Set<string> | null)[] = []; // one entry per open container: its names, or null for an array
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '{') open.push(new Set());
    else if (c === '[') open.push(null);
    else if (c === '}' || c === ']') open.pop();
    else if (c === '"') {
      const start = i;
      let escaped = false;
      for (i++; i < text.length && text[i] !== '"'; i++) {
        if (text[i] === '\\') {
          escaped = true;
          i++;
        }
      }
      const names = open[open.length - 1];
      if (!names) continue;
      let next = i + 1;
      while (WHITESPACE.has(text[next])) next++;
      if (text[next] !== ':') continue;
      // An escaped name ("meth\u006fd") is compared by its value.
      const name = escaped ? (JSON.parse(text.slice(start, i + 1)) as string) : text.slice(start + 1, i);
      if (names.has(name)) return true;
      names.add(name);
    }
  }
  return false;
}
