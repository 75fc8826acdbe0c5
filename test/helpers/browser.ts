/**
 * A minimal "browser" for end-to-end tests: plain HTTP via the global `fetch`
 * (never following redirects on its own), a cookie jar, and just enough HTML
 * form handling to drive server-rendered login / consent pages.
 *
 * It is deliberately simple (regex-based HTML parsing, simplified cookie
 * rules) and meant for pages we render ourselves, not for arbitrary HTML.
 */

export interface BrowserResponse {
  /** HTTP status code. */
  status: number;
  headers: Headers;
  /** Response body as text. */
  body: string;
  /** Absolute URL that was requested. */
  url: string;
  /** Absolute `Location` (resolved against `url`) when the response carries one. */
  location?: string;
}

export interface FollowOptions {
  /**
   * Stop as soon as a redirect's Location satisfies this predicate. The
   * matching Location is NOT requested; the redirect response is returned
   * (see its `.location`).
   */
  until?: (u: URL) => boolean;
  /** Maximum number of redirects to follow (default 10). */
  max?: number;
}

export interface SubmitOptions {
  /** Which form of the page to submit (default 0, the first one). */
  formIndex?: number;
  /**
   * The clicked submit button as a `name=value` pair, e.g. `'decision=approve'`.
   * The form must contain such a submit button (`<button>` or
   * `<input type=submit|image>`), otherwise `submit` throws. Without it no
   * button value is sent (like `form.submit()` in a real browser).
   */
  button?: string;
  /** Extra request headers. */
  headers?: Record<string, string>;
}

export interface FormControl {
  tag: 'input' | 'select' | 'textarea' | 'button';
  name: string;
  /** Lower-cased `type` (`text` for inputs without one, `submit` for buttons without one). */
  type: string;
  /** Value after entity decoding (for selects: the selected/first option). */
  value: string;
  checked: boolean;
  disabled: boolean;
  /** For selects: all option values. */
  options?: string[];
}

export interface ParsedForm {
  /** Upper-cased method, `GET` or `POST` (default `GET`). */
  method: string;
  /** Absolute action URL (resolved against the page URL; the page URL when absent). */
  action: string;
  enctype: string;
  /** Attributes of the `<form>` tag (entity-decoded). */
  attributes: Record<string, string>;
  /** All named controls in document order (including submit buttons). */
  controls: FormControl[];
  /** Submit buttons (`<button type=submit>` and `<input type=submit|image>`), named or not. */
  buttons: { name: string; value: string; type: string; text: string }[];
  /**
   * The values that would be submitted without any button click:
   * enabled, named, non-button controls; checkboxes/radios only when checked.
   * When a name repeats, the first value wins here (see `entries` for all).
   */
  fields: Record<string, string>;
  /** Same as `fields` but as ordered pairs, preserving repeated names. */
  entries: [string, string][];
}

export interface TestBrowserOptions {
  /** Headers sent with every request (can be overridden per request). */
  defaultHeaders?: Record<string, string>;
}

export interface StoredCookie {
  name: string;
  value: string;
  /** Origin (scheme://host:port) the cookie belongs to. */
  origin: string;
  path: string;
  /** Epoch millis, or undefined for session cookies. */
  expires?: number;
  httpOnly: boolean;
  secure: boolean;
  sameSite?: string;
}

const DEFAULT_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

// ---------------------------------------------------------------------------
// HTML helpers
// ---------------------------------------------------------------------------

const NAMED_ENTITIES: Record<string, string> = {
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
  nbsp: '\u00a0',
};

/** Decodes `&amp; &lt; &gt; &quot; &#39; &apos; &nbsp;` and numeric entities in a single pass. */
export function decodeHtmlEntities(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (whole, ent: string) => {
    if (ent[0] === '#') {
      const code = ent[1] === 'x' || ent[1] === 'X' ? parseInt(ent.slice(2), 16) : parseInt(ent.slice(1), 10);
      try {
        return String.fromCodePoint(code);
      } catch {
        return whole;
      }
    }
    const named = NAMED_ENTITIES[ent.toLowerCase()];
    return named ?? whole;
  });
}

/** Attribute list of a start tag (everything between the tag name and `>`), quotes aware. */
const ATTRS = `((?:[^>"']|"[^"]*"|'[^']*')*)`;

/** Parses an attribute string into a lower-cased-name map with decoded values. */
export function parseAttributes(attrs: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /([^\s=/>"']+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(attrs))) {
    const name = m[1].toLowerCase();
    if (name in out) continue; // first occurrence wins, as in HTML
    const raw = m[2] ?? m[3] ?? m[4] ?? '';
    out[name] = decodeHtmlEntities(raw);
  }
  return out;
}

function stripTags(html: string): string {
  return decodeHtmlEntities(html.replace(/<[^>]*>/g, ''))
    .replace(/\s+/g, ' ')
    .trim();
}

/** Parses the `<form>` elements of a server-rendered page. */
export function parseForms(html: string, baseUrl?: string): ParsedForm[] {
  const clean = html.replace(/<!--[\s\S]*?-->/g, '');
  const forms: ParsedForm[] = [];
  const formRe = new RegExp(`<form\\b${ATTRS}>([\\s\\S]*?)<\\/form\\s*>`, 'gi');
  let fm: RegExpExecArray | null;
  while ((fm = formRe.exec(clean))) {
    const attributes = parseAttributes(fm[1]);
    const inner = fm[2];
    const method = (attributes.method || 'GET').toUpperCase() === 'POST' ? 'POST' : 'GET';
    const actionAttr = attributes.action ?? '';
    let action = actionAttr;
    if (baseUrl !== undefined) {
      action = actionAttr ? new URL(actionAttr, baseUrl).href : baseUrl;
    }
    const controls: FormControl[] = [];
    const buttons: ParsedForm['buttons'] = [];

    // One pass over the controls in document order.
    const ctrlRe = new RegExp(
      `<input\\b${ATTRS}>|<button\\b${ATTRS}>([\\s\\S]*?)<\\/button\\s*>|<select\\b${ATTRS}>([\\s\\S]*?)<\\/select\\s*>|<textarea\\b${ATTRS}>([\\s\\S]*?)<\\/textarea\\s*>`,
      'gi',
    );
    let cm: RegExpExecArray | null;
    while ((cm = ctrlRe.exec(inner))) {
      if (cm[1] !== undefined) {
        const a = parseAttributes(cm[1]);
        const type = (a.type || 'text').toLowerCase();
        const isSubmit = type === 'submit' || type === 'image';
        const value = a.value ?? (type === 'checkbox' || type === 'radio' ? 'on' : '');
        if (isSubmit) buttons.push({ name: a.name ?? '', value, type, text: value });
        if (a.name !== undefined) {
          controls.push({
            tag: 'input',
            name: a.name,
            type,
            value,
            checked: 'checked' in a,
            disabled: 'disabled' in a,
          });
        }
      } else if (cm[2] !== undefined) {
        const a = parseAttributes(cm[2]);
        const type = (a.type || 'submit').toLowerCase();
        const value = a.value ?? '';
        const text = stripTags(cm[3] ?? '');
        if (type === 'submit') buttons.push({ name: a.name ?? '', value, type, text });
        if (a.name !== undefined) {
          controls.push({ tag: 'button', name: a.name, type, value, checked: false, disabled: 'disabled' in a });
        }
      } else if (cm[4] !== undefined) {
        const a = parseAttributes(cm[4]);
        const optRe = new RegExp(`<option\\b${ATTRS}>([\\s\\S]*?)(?=<option\\b|<\\/option|<\\/optgroup|$)`, 'gi');
        const options: { value: string; selected: boolean; disabled: boolean }[] = [];
        let om: RegExpExecArray | null;
        const body = cm[5] ?? '';
        while ((om = optRe.exec(body))) {
          const oa = parseAttributes(om[1]);
          options.push({
            value: oa.value ?? stripTags(om[2] ?? ''),
            selected: 'selected' in oa,
            disabled: 'disabled' in oa,
          });
        }
        const chosen = options.find((o) => o.selected) ?? options.find((o) => !o.disabled) ?? options[0];
        if (a.name !== undefined) {
          controls.push({
            tag: 'select',
            name: a.name,
            type: 'multiple' in a ? 'select-multiple' : 'select-one',
            value: chosen?.value ?? '',
            checked: false,
            disabled: 'disabled' in a || chosen === undefined,
            options: options.map((o) => o.value),
          });
        }
      } else if (cm[6] !== undefined) {
        const a = parseAttributes(cm[6]);
        if (a.name !== undefined) {
          controls.push({
            tag: 'textarea',
            name: a.name,
            type: 'textarea',
            value: decodeHtmlEntities((cm[7] ?? '').replace(/^\r?\n/, '')),
            checked: false,
            disabled: 'disabled' in a,
          });
        }
      }
    }

    const entries: [string, string][] = [];
    for (const c of controls) {
      if (c.disabled || !c.name) continue;
      if (c.tag === 'button') continue;
      if (c.tag === 'input') {
        if (['submit', 'image', 'button', 'reset', 'file'].includes(c.type)) continue;
        if ((c.type === 'checkbox' || c.type === 'radio') && !c.checked) continue;
      }
      entries.push([c.name, c.value]);
    }
    const fields: Record<string, string> = {};
    for (const [k, v] of entries) if (!(k in fields)) fields[k] = v;

    forms.push({ method, action, enctype: attributes.enctype || 'application/x-www-form-urlencoded', attributes, controls, buttons, fields, entries });
  }
  return forms;
}

// ---------------------------------------------------------------------------
// Cookie jar
// ---------------------------------------------------------------------------

function defaultCookiePath(url: URL): string {
  const p = url.pathname;
  if (!p.startsWith('/') || p.lastIndexOf('/') === 0) return '/';
  return p.slice(0, p.lastIndexOf('/'));
}

function pathMatches(requestPath: string, cookiePath: string): boolean {
  if (requestPath === cookiePath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith('/') || requestPath[cookiePath.length] === '/';
}

/**
 * A simplified cookie jar: cookies are scoped to the exact origin that set them
 * (the `Domain` attribute is ignored), with simple path matching. `Secure`
 * cookies are kept even over http (tests run on 127.0.0.1, which browsers
 * treat as a secure context).
 */
export class CookieJar {
  private cookies: StoredCookie[] = [];

  /** Stores the cookies of one `Set-Cookie` header value received from `url`. */
  setCookie(setCookie: string, url: string | URL, now = Date.now()): void {
    const u = new URL(url);
    const parts = setCookie.split(';');
    const first = parts.shift() ?? '';
    const eq = first.indexOf('=');
    if (eq < 0) return;
    const name = first.slice(0, eq).trim();
    const value = first
      .slice(eq + 1)
      .trim()
      .replace(/^"(.*)"$/, '$1');
    if (!name) return;
    let path: string | undefined;
    let expires: number | undefined;
    let maxAge: number | undefined;
    let httpOnly = false;
    let secure = false;
    let sameSite: string | undefined;
    for (const part of parts) {
      const i = part.indexOf('=');
      const key = (i < 0 ? part : part.slice(0, i)).trim().toLowerCase();
      const val = i < 0 ? '' : part.slice(i + 1).trim();
      if (key === 'path' && val.startsWith('/')) path = val;
      else if (key === 'expires') {
        const t = Date.parse(val);
        if (!Number.isNaN(t)) expires = t;
      } else if (key === 'max-age') {
        const n = Number(val);
        if (/^-?\d+$/.test(val) && Number.isFinite(n)) maxAge = n;
      } else if (key === 'httponly') httpOnly = true;
      else if (key === 'secure') secure = true;
      else if (key === 'samesite') sameSite = val;
    }
    // Max-Age takes precedence over Expires.
    if (maxAge !== undefined) expires = maxAge <= 0 ? 0 : now + maxAge * 1000;
    const cookie: StoredCookie = {
      name,
      value,
      origin: u.origin,
      path: path ?? defaultCookiePath(u),
      expires,
      httpOnly,
      secure,
      sameSite,
    };
    this.cookies = this.cookies.filter((c) => !(c.name === name && c.origin === cookie.origin && c.path === cookie.path));
    if (expires === undefined || expires > now) this.cookies.push(cookie);
  }

  /** Cookies that would be sent to `url` (longest path first). */
  cookiesFor(url: string | URL, now = Date.now()): StoredCookie[] {
    const u = new URL(url);
    this.cookies = this.cookies.filter((c) => c.expires === undefined || c.expires > now);
    return this.cookies.filter((c) => c.origin === u.origin && pathMatches(u.pathname || '/', c.path)).sort((a, b) => b.path.length - a.path.length);
  }

  /** The `Cookie` request header for `url`, or undefined when there is nothing to send. */
  header(url: string | URL): string | undefined {
    const list = this.cookiesFor(url);
    return list.length ? list.map((c) => `${c.name}=${c.value}`).join('; ') : undefined;
  }

  /** Value of the cookie `name` that would be sent to `url`. */
  get(url: string | URL, name: string): string | undefined {
    return this.cookiesFor(url).find((c) => c.name === name)?.value;
  }

  /** All stored (non-expired) cookies. */
  all(now = Date.now()): StoredCookie[] {
    this.cookies = this.cookies.filter((c) => c.expires === undefined || c.expires > now);
    return [...this.cookies];
  }

  /** Removes cookies, optionally only those of the origin of `url` / with name `name`. */
  clear(url?: string | URL, name?: string): void {
    const origin = url ? new URL(url).origin : undefined;
    this.cookies = this.cookies.filter((c) => !((origin === undefined || c.origin === origin) && (name === undefined || c.name === name)));
  }
}

function getSetCookies(headers: Headers): string[] {
  const h = headers as Headers & { getSetCookie?: () => string[] };
  if (typeof h.getSetCookie === 'function') return h.getSetCookie();
  const single = headers.get('set-cookie');
  return single ? [single] : [];
}

// ---------------------------------------------------------------------------
// Browser
// ---------------------------------------------------------------------------

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  /** A string body (sent as is) or fields encoded as application/x-www-form-urlencoded. */
  body?: string | Record<string, string> | URLSearchParams;
}

export class TestBrowser {
  readonly jar = new CookieJar();
  /** Every response received, oldest first. */
  readonly history: BrowserResponse[] = [];
  private readonly defaultHeaders: Record<string, string>;

  constructor(opts: TestBrowserOptions = {}) {
    this.defaultHeaders = { accept: DEFAULT_ACCEPT, ...lowerKeys(opts.defaultHeaders ?? {}) };
  }

  /** Low-level request with cookies; never follows redirects. */
  async request(url: string | URL, opts: RequestOptions = {}): Promise<BrowserResponse> {
    const target = new URL(url);
    target.hash = '';
    const headers: Record<string, string> = { ...this.defaultHeaders, ...lowerKeys(opts.headers ?? {}) };
    const cookie = this.jar.header(target);
    if (cookie && headers.cookie === undefined) headers.cookie = cookie;
    let body: string | undefined;
    if (opts.body !== undefined) {
      if (typeof opts.body === 'string') body = opts.body;
      else {
        body = (opts.body instanceof URLSearchParams ? opts.body : new URLSearchParams(opts.body)).toString();
        headers['content-type'] ??= 'application/x-www-form-urlencoded';
      }
    }
    const res = await fetch(target, {
      method: opts.method ?? (body !== undefined ? 'POST' : 'GET'),
      headers,
      body,
      redirect: 'manual',
    });
    for (const sc of getSetCookies(res.headers)) this.jar.setCookie(sc, target);
    const text = await res.text();
    const loc = res.headers.get('location');
    const out: BrowserResponse = { status: res.status, headers: res.headers, body: text, url: target.href };
    if (loc !== null) {
      try {
        out.location = new URL(loc, target).href;
      } catch {
        out.location = loc;
      }
    }
    this.history.push(out);
    return out;
  }

  /** GET with cookies; does not follow redirects. */
  get(url: string | URL, headers?: Record<string, string>): Promise<BrowserResponse> {
    return this.request(url, { method: 'GET', headers });
  }

  /** POSTs `fields` as application/x-www-form-urlencoded (with an `Origin` header like a browser); does not follow redirects. */
  post(url: string | URL, fields: Record<string, string> | URLSearchParams, headers?: Record<string, string>): Promise<BrowserResponse> {
    return this.request(url, { method: 'POST', body: fields, headers: { origin: new URL(url).origin, ...lowerKeys(headers ?? {}) } });
  }

  /**
   * Follows 3xx redirects with GET. Starts by requesting `start` (or, given a
   * response, from its Location when it is a redirect). Returns the first
   * non-redirect response, or the redirect response whose Location satisfies
   * `until` (without requesting that Location).
   */
  async follow(start: string | URL | BrowserResponse, opts: FollowOptions = {}): Promise<BrowserResponse> {
    const max = opts.max ?? 10;
    let res: BrowserResponse;
    if (typeof start === 'string' || start instanceof URL) res = await this.get(start);
    else res = start;
    for (let hops = 0; ; hops++) {
      if (!isRedirect(res) || !res.location) return res;
      if (opts.until?.(new URL(res.location))) return res;
      if (hops >= max) {
        throw new Error(`TestBrowser.follow: more than ${max} redirects (last: ${res.url} -> ${res.location})`);
      }
      res = await this.get(res.location);
    }
  }

  /** Parses the forms of a page (a response, or raw HTML with an optional base URL for `action`). */
  forms(page: BrowserResponse | string, baseUrl?: string): ParsedForm[] {
    if (typeof page === 'string') return parseForms(page, baseUrl);
    return parseForms(page.body, baseUrl ?? page.url);
  }

  /**
   * Submits a form of `page` (default the first), with `fields` overriding or
   * adding values (a `null`/`undefined` value removes the field). Returns the
   * response without following redirects.
   */
  async submit(page: BrowserResponse, fields: Record<string, string | null | undefined> = {}, opts: SubmitOptions = {}): Promise<BrowserResponse> {
    const forms = this.forms(page);
    const index = opts.formIndex ?? 0;
    const form = forms[index];
    if (!form) {
      throw new Error(`TestBrowser.submit: page ${page.url} (status ${page.status}) has ${forms.length} form(s), no form #${index}. Body: ${page.body.slice(0, 500)}`);
    }
    let entries: [string, string][] = form.entries.map(([k, v]) => [k, v]);
    for (const [name, value] of Object.entries(fields)) {
      const first = entries.findIndex(([k]) => k === name);
      if (value === null || value === undefined) {
        entries = entries.filter(([k]) => k !== name);
      } else if (first >= 0) {
        entries = entries.filter(([k], i) => k !== name || i === first);
        entries[entries.findIndex(([k]) => k === name)] = [name, value];
      } else {
        entries.push([name, value]);
      }
    }
    if (opts.button !== undefined) {
      const eq = opts.button.indexOf('=');
      const name = eq < 0 ? opts.button : opts.button.slice(0, eq);
      const value = eq < 0 ? '' : opts.button.slice(eq + 1);
      const exists = form.buttons.some((b) => b.name === name && b.value === value);
      if (!exists) {
        throw new Error(`TestBrowser.submit: form #${index} of ${page.url} has no submit button ${opts.button}; buttons: ${JSON.stringify(form.buttons)}`);
      }
      entries.push([name, value]);
    }
    const params = new URLSearchParams(entries);
    if (form.method === 'GET') {
      const target = new URL(form.action);
      target.search = params.toString();
      return this.get(target, opts.headers);
    }
    return this.post(form.action, params, { origin: new URL(page.url).origin, ...(opts.headers ?? {}) });
  }
}

export function isRedirect(res: BrowserResponse): boolean {
  return res.status >= 300 && res.status < 400 && res.location !== undefined;
}

function lowerKeys(h: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) out[k.toLowerCase()] = v;
  return out;
}
