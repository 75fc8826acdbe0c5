import http from 'node:http';
import { AddressInfo } from 'node:net';
import { CookieJar, TestBrowser, decodeHtmlEntities, parseForms } from '../helpers/browser';
import { TestOAuthProvider, authorizeInBrowser, connectWithOAuth } from '../helpers/oauth-client';

type Handler = (req: http.IncomingMessage, body: string, res: http.ServerResponse, base: string) => void;

async function startServer(handler: Handler): Promise<{ base: string; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const addr = server.address() as AddressInfo;
      try {
        handler(req, Buffer.concat(chunks).toString('utf8'), res, `http://127.0.0.1:${addr.port}`);
      } catch (e) {
        res.statusCode = 500;
        res.end(String(e));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function redirect(res: http.ServerResponse, location: string, status = 302, cookies?: string[]) {
  if (cookies) res.setHeader('Set-Cookie', cookies);
  res.writeHead(status, { Location: location });
  res.end();
}

function html(res: http.ServerResponse, body: string, status = 200) {
  res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8' });
  res.end(body);
}

function json(res: http.ServerResponse, value: unknown, status = 200) {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(value));
}

const FORM_PAGE = `<!doctype html><html><body>
<!-- <form action="/commented-out"><input name="ghost"></form> -->
<form method="post" action="/form/submit?x=1&amp;y=2" class="main">
  <input type="hidden" name="csrf" value="a&amp;b&lt;c&gt;d&quot;e&#39;f">
  <input type='text' name='q' value='it&#39;s'>
  <input name="plain" value=unquoted>
  <input type="email" name="email">
  <input type="checkbox" name="remember" value="yes">
  <input type="checkbox" name="agree" checked>
  <input type="radio" name="color" value="red">
  <input type="radio" name="color" value="blue" checked>
  <input type="text" name="off" value="x" disabled>
  <input type="file" name="upload">
  <textarea name="note">
hello &amp; bye</textarea>
  <select name="scope">
    <option value="read">Read</option>
    <option value="write" selected>Write</option>
  </select>
  <select name="first"><option>Alpha</option><option>Beta</option></select>
  <button type="submit" name="decision" value="approve" data-x="a>b">Approve &amp; continue</button>
  <button type="submit" name="decision" value="deny">Deny</button>
  <button type="button" name="noop" value="1">Not a submit</button>
  <input type="submit" name="alt" value="Go">
</form>
<form action="search"><input name="term" value="a b"><button>Search</button></form>
<FORM METHOD="POST"><INPUT NAME="upper" VALUE="1"></FORM>
</body></html>`;

describe('test helpers: browser', () => {
  let server: { base: string; close: () => Promise<void> };
  const seen: { method: string; url: string; headers: http.IncomingHttpHeaders; body: string }[] = [];

  beforeAll(async () => {
    server = await startServer((req, body, res, base) => {
      const url = new URL(req.url ?? '/', base);
      seen.push({ method: req.method ?? '', url: url.pathname + url.search, headers: req.headers, body });
      switch (url.pathname) {
        case '/set':
          res.setHeader('Set-Cookie', ['sid=abc123; Path=/; HttpOnly; SameSite=Lax', 'pref=dark; Max-Age=3600; Path=/', 'admin=1; Path=/admin', 'quoted="q v"; Path=/']);
          return json(res, { ok: true });
        case '/delete':
          res.setHeader('Set-Cookie', ['sid=; Path=/; Max-Age=0', 'pref=gone; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT']);
          return json(res, { ok: true });
        case '/echo':
        case '/admin/echo':
        case '/administrator':
          return json(res, { method: req.method, cookie: req.headers.cookie ?? null, body, origin: req.headers.origin ?? null });
        case '/r/a':
          return redirect(res, '/r/b', 302, ['hop=a; Path=/']);
        case '/r/b':
          return redirect(res, `${base}/r/c?from=b`, 303);
        case '/r/c':
          return redirect(res, 'http://client.example:9999/callback?code=xyz&state=s1', 302);
        case '/r/d':
          return redirect(res, 'final', 307);
        case '/r/final':
          return html(res, '<p>done</p>');
        case '/loop':
          return redirect(res, '/loop');
        case '/form':
          return html(res, FORM_PAGE);
        case '/form/submit':
          if (req.method !== 'POST') return json(res, { error: 'method' }, 405);
          return redirect(res, `/done?body=${encodeURIComponent(body)}`, 302, ['submitted=1; Path=/']);
        case '/search':
          return json(res, { method: req.method, query: url.search });
        default:
          return json(res, { error: 'not found' }, 404);
      }
    });
  });

  afterAll(async () => {
    await server.close();
  });

  it('get() does not follow redirects and exposes an absolute location', async () => {
    const b = new TestBrowser();
    const r = await b.get(`${server.base}/r/a`);
    expect(r.status).toBe(302);
    expect(r.location).toBe(`${server.base}/r/b`);
    expect(r.url).toBe(`${server.base}/r/a`);
    expect(r.headers.get('location')).toBe('/r/b');
    expect(b.jar.get(server.base, 'hop')).toBe('a');
  });

  it('stores cookies, sends them back for the same origin and path, and honours deletion', async () => {
    const b = new TestBrowser();
    await b.get(`${server.base}/set`);
    let echo = JSON.parse((await b.get(`${server.base}/echo`)).body);
    expect(echo.cookie).toBe('sid=abc123; pref=dark; quoted=q v');

    echo = JSON.parse((await b.get(`${server.base}/admin/echo`)).body);
    expect(echo.cookie.split('; ').sort()).toEqual(['admin=1', 'pref=dark', 'quoted=q v', 'sid=abc123']);
    expect(echo.cookie.startsWith('admin=1')).toBe(true); // longer path first

    // Path=/admin must not match /administrator
    echo = JSON.parse((await b.get(`${server.base}/administrator`)).body);
    expect(echo.cookie).not.toContain('admin=1');

    // Other origin (localhost vs 127.0.0.1) gets nothing
    const other = server.base.replace('127.0.0.1', 'localhost');
    expect(b.jar.header(`${other}/echo`)).toBeUndefined();

    const sid = b.jar.all().find((c) => c.name === 'sid');
    expect(sid).toMatchObject({ httpOnly: true, sameSite: 'Lax', path: '/', expires: undefined });

    await b.get(`${server.base}/delete`);
    echo = JSON.parse((await b.get(`${server.base}/echo`)).body);
    expect(echo.cookie).toBe('quoted=q v');
  });

  it('cookie jar: Max-Age beats Expires, expiry over time, default path, manual clear', () => {
    const jar = new CookieJar();
    const now = Date.now();
    jar.setCookie('a=1; Path=/; Max-Age=10; Expires=Thu, 01 Jan 1970 00:00:00 GMT', 'http://h.test/x/y', now);
    jar.setCookie('b=2', 'http://h.test/x/y', now); // default path /x
    jar.setCookie('c=3; Expires=' + new Date(now + 5000).toUTCString(), 'http://h.test/', now);
    jar.setCookie('garbage-without-equals', 'http://h.test/', now);
    expect(
      jar
        .cookiesFor('http://h.test/x/z', now)
        .map((c) => c.name)
        .sort(),
    ).toEqual(['a', 'b', 'c']);
    expect(
      jar
        .cookiesFor('http://h.test/other', now)
        .map((c) => c.name)
        .sort(),
    ).toEqual(['a', 'c']);
    expect(
      jar
        .cookiesFor('http://h.test/x/z', now + 6000)
        .map((c) => c.name)
        .sort(),
    ).toEqual(['a', 'b']);
    expect(jar.cookiesFor('http://h.test/x/z', now + 11000).map((c) => c.name)).toEqual(['b']);
    jar.setCookie('b=22; Path=/x', 'http://h.test/x/y', now); // same name+path replaces
    expect(jar.get('http://h.test/x/', 'b')).toBe('22');
    jar.clear('http://h.test', 'b');
    expect(jar.header('http://h.test/x/')).toBeUndefined();
  });

  it('follow() follows redirects and stops before a Location matching `until`', async () => {
    const b = new TestBrowser();
    const r = await b.follow(`${server.base}/r/a`, { until: (u) => u.pathname === '/callback' });
    expect(r.status).toBe(302);
    expect(r.url).toBe(`${server.base}/r/c?from=b`);
    expect(r.location).toBe('http://client.example:9999/callback?code=xyz&state=s1');
    expect(seen.filter((s) => s.url.startsWith('/callback'))).toHaveLength(0);

    const done = await b.follow(`${server.base}/r/d`);
    expect(done.status).toBe(200);
    expect(done.url).toBe(`${server.base}/r/final`);
    expect(done.body).toBe('<p>done</p>');

    // follow() also accepts a response to continue from
    const first = await b.get(`${server.base}/r/d`);
    expect((await b.follow(first)).body).toBe('<p>done</p>');

    await expect(b.follow(`${server.base}/loop`, { max: 3 })).rejects.toThrow(/more than 3 redirects/);
  });

  it('forms() parses method, action, hidden inputs, entities, selects and buttons', async () => {
    const b = new TestBrowser();
    const page = await b.get(`${server.base}/form`);
    const forms = b.forms(page);
    expect(forms).toHaveLength(3);
    const [main, search, upper] = forms;
    expect(main.method).toBe('POST');
    expect(main.action).toBe(`${server.base}/form/submit?x=1&y=2`);
    expect(main.attributes.class).toBe('main');
    expect(main.fields).toEqual({
      csrf: `a&b<c>d"e'f`,
      q: "it's",
      plain: 'unquoted',
      email: '',
      agree: 'on',
      color: 'blue',
      note: 'hello & bye',
      scope: 'write',
      first: 'Alpha',
    });
    expect(main.controls.find((c) => c.name === 'scope')?.options).toEqual(['read', 'write']);
    expect(main.controls.find((c) => c.name === 'off')).toMatchObject({ disabled: true, value: 'x' });
    expect(main.buttons).toEqual([
      { name: 'decision', value: 'approve', type: 'submit', text: 'Approve & continue' },
      { name: 'decision', value: 'deny', type: 'submit', text: 'Deny' },
      { name: 'alt', value: 'Go', type: 'submit', text: 'Go' },
    ]);
    expect(search).toMatchObject({ method: 'GET', action: `${server.base}/search`, fields: { term: 'a b' } });
    expect(search.buttons).toEqual([{ name: '', value: '', type: 'submit', text: 'Search' }]);
    expect(upper).toMatchObject({ method: 'POST', action: `${server.base}/form`, fields: { upper: '1' } });

    // raw HTML with and without a base URL
    expect(parseForms('<form action="/x"></form>')[0].action).toBe('/x');
    expect(b.forms('<form action="/x"></form>', 'http://h.test/a/b')[0].action).toBe('http://h.test/x');
  });

  it('decodeHtmlEntities decodes in a single pass', () => {
    expect(decodeHtmlEntities('&amp;lt; &lt;&gt;&quot;&#39;&#x41;&#66;&apos;&unknown;')).toBe(`&lt; <>"'AB'&unknown;`);
  });

  it('submit() POSTs the form url-encoded with overrides, the clicked button, cookies and Origin', async () => {
    const b = new TestBrowser();
    await b.get(`${server.base}/set`);
    const page = await b.get(`${server.base}/form`);
    const before = seen.length;
    const r = await b.submit(page, { email: 'a@b.c', q: 'new & improved', extra: 'x=y', plain: null }, { button: 'decision=approve' });
    expect(r.status).toBe(302);
    expect(r.location).toMatch(new RegExp(`^${server.base}/done\\?body=`));
    expect(b.jar.get(server.base, 'submitted')).toBe('1');

    const req = seen[before];
    expect(req.method).toBe('POST');
    expect(req.url).toBe('/form/submit?x=1&y=2');
    expect(req.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(req.headers.origin).toBe(server.base);
    expect(req.headers.cookie).toContain('sid=abc123');
    const sent = new URLSearchParams(req.body);
    expect([...sent.entries()]).toEqual([
      ['csrf', `a&b<c>d"e'f`],
      ['q', 'new & improved'],
      ['email', 'a@b.c'],
      ['agree', 'on'],
      ['color', 'blue'],
      ['note', 'hello & bye'],
      ['scope', 'write'],
      ['first', 'Alpha'],
      ['extra', 'x=y'],
      ['decision', 'approve'],
    ]);

    // no button => no decision
    await b.submit(page, {});
    expect(new URLSearchParams(seen[seen.length - 1].body).has('decision')).toBe(false);

    // a button that is not in the form is an error
    await expect(b.submit(page, {}, { button: 'decision=maybe' })).rejects.toThrow(/no submit button decision=maybe/);
    await expect(b.submit(page, {}, { formIndex: 7 })).rejects.toThrow(/no form #7/);
  });

  it('submit() of a GET form puts the fields into the query string', async () => {
    const b = new TestBrowser();
    const page = await b.get(`${server.base}/form`);
    const r = await b.submit(page, { term: 'x&y' }, { formIndex: 1 });
    expect(JSON.parse(r.body)).toEqual({ method: 'GET', query: '?term=x%26y' });
  });
});

describe('test helpers: authorizeInBrowser against a fake gateway', () => {
  let gw: { base: string; close: () => Promise<void> };
  const REDIRECT = 'http://127.0.0.1:45678/callback';
  const sessions = new Set<string>();
  const remembered = new Set<string>();
  let counter = 0;

  beforeAll(async () => {
    gw = await startServer((req, body, res, base) => {
      const url = new URL(req.url ?? '/', base);
      const cookies = Object.fromEntries(
        (req.headers.cookie ?? '')
          .split(/;\s*/)
          .filter(Boolean)
          .map((c) => c.split('=') as [string, string]),
      );
      const session = cookies.gh_session && sessions.has(cookies.gh_session) ? cookies.gh_session : undefined;
      if (url.pathname === '/authorize' && req.method === 'GET') {
        if (!session) return redirect(res, `/login?return_to=${encodeURIComponent(url.pathname + url.search)}`);
        const clientId = url.searchParams.get('client_id') ?? '';
        const redirectUri = url.searchParams.get('redirect_uri') ?? '';
        const state = url.searchParams.get('state') ?? '';
        if (remembered.has(clientId)) {
          return redirect(res, `${redirectUri}?code=remembered-${++counter}&state=${encodeURIComponent(state)}&iss=${encodeURIComponent(base)}`);
        }
        const hidden = ['client_id', 'redirect_uri', 'state', 'code_challenge']
          .map((k) => `<input type="hidden" name="${k}" value="${(url.searchParams.get(k) ?? '').replace(/&/g, '&amp;').replace(/"/g, '&quot;')}">`)
          .join('');
        return html(
          res,
          `<h1>Allow?</h1><form method="post" action="/authorize">${hidden}<input type="hidden" name="csrf" value="tok">` +
            `<label><input type="checkbox" name="remember" value="1"> remember</label>` +
            `<button type="submit" name="decision" value="approve">Allow</button><button type="submit" name="decision" value="deny">Deny</button></form>`,
        );
      }
      if (url.pathname === '/authorize' && req.method === 'POST') {
        const f = new URLSearchParams(body);
        if (!session || f.get('csrf') !== 'tok') return html(res, 'bad csrf', 403);
        const target = new URL(f.get('redirect_uri') ?? '');
        target.searchParams.set('state', f.get('state') ?? '');
        target.searchParams.set('iss', base);
        if (f.get('decision') === 'approve') {
          if (f.get('remember') === '1') remembered.add(f.get('client_id') ?? '');
          target.searchParams.set('code', `code-${++counter}`);
        } else {
          target.searchParams.set('error', 'access_denied');
        }
        return redirect(res, target.href);
      }
      if (url.pathname === '/login' && req.method === 'GET') {
        return html(
          res,
          `<form method="post" action="/login?return_to=${encodeURIComponent(url.searchParams.get('return_to') ?? '/').replace(/&/g, '&amp;')}">` +
            `<input type="hidden" name="csrf" value="login-csrf"><input type="email" name="email"><input type="password" name="password"><button type="submit">Sign in</button></form>` +
            (url.searchParams.get('error') ? '<p class="error">Invalid email or password</p>' : ''),
        );
      }
      if (url.pathname === '/login' && req.method === 'POST') {
        const f = new URLSearchParams(body);
        const returnTo = url.searchParams.get('return_to') ?? '/';
        if (f.get('csrf') !== 'login-csrf' || f.get('email') !== 'user@example.com' || f.get('password') !== 'pw') {
          return redirect(res, `/login?error=1&return_to=${encodeURIComponent(returnTo)}`);
        }
        const sid = `s${++counter}`;
        sessions.add(sid);
        return redirect(res, returnTo, 302, [`gh_session=${sid}; Path=/; HttpOnly`]);
      }
      if (url.pathname === '/elsewhere') return redirect(res, 'http://evil.example/phish');
      return html(res, 'nope', 404);
    });
  });

  afterAll(async () => {
    await gw.close();
  });

  const authUrl = (clientId: string, state = 'st-1') =>
    `${gw.base}/authorize?response_type=code&client_id=${clientId}&redirect_uri=${encodeURIComponent(REDIRECT)}&state=${state}&code_challenge=abc&code_challenge_method=S256`;
  const creds = { email: 'user@example.com', password: 'pw' };

  it('logs in, approves and stops at the redirect URI', async () => {
    const b = new TestBrowser();
    const r = await authorizeInBrowser(b, authUrl('c1'), creds);
    expect(r.code).toMatch(/^code-\d+$/);
    expect(r.state).toBe('st-1');
    expect(r.iss).toBe(gw.base);
    expect(r.error).toBeNull();
    expect(r.callbackUrl.origin + r.callbackUrl.pathname).toBe(REDIRECT);
    expect(r).toMatchObject({ loggedIn: true, consentShown: true });

    // Same browser: session cookie kept, no login this time; remember consent
    const r2 = await authorizeInBrowser(b, authUrl('c1', 'st-2'), creds, { extraConsentFields: { remember: '1' } });
    expect(r2).toMatchObject({ loggedIn: false, consentShown: true, state: 'st-2' });

    // Remembered consent: straight redirect
    const r3 = await authorizeInBrowser(b, authUrl('c1', 'st-3'), creds);
    expect(r3).toMatchObject({ loggedIn: false, consentShown: false, state: 'st-3' });
    expect(r3.code).toMatch(/^remembered-/);
  });

  it('deny returns the error callback', async () => {
    const r = await authorizeInBrowser(new TestBrowser(), authUrl('c2'), creds, { approve: false });
    expect(r).toMatchObject({ code: '', error: 'access_denied', state: 'st-1' });
  });

  it('throws descriptively on wrong credentials and on foreign redirects', async () => {
    await expect(authorizeInBrowser(new TestBrowser(), authUrl('c3'), { ...creds, password: 'wrong' })).rejects.toThrow(
      /login page shown again[\s\S]*status 200[\s\S]*Invalid email or password/,
    );
    await expect(authorizeInBrowser(new TestBrowser(), `${gw.base}/elsewhere?redirect_uri=${encodeURIComponent(REDIRECT)}`, creds)).rejects.toThrow(
      /outside the gateway origin[\s\S]*evil\.example/,
    );
    await expect(authorizeInBrowser(new TestBrowser(), `${gw.base}/nope?redirect_uri=${encodeURIComponent(REDIRECT)}`, creds)).rejects.toThrow(/unexpected response: status 404/);
  });
});

describe('test helpers: TestOAuthProvider', () => {
  it('has sensible defaults and records what the SDK hands it', () => {
    const p = new TestOAuthProvider({ clientName: 'My Client' });
    expect(p.redirectUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/callback$/);
    expect(p.clientMetadata).toEqual({
      client_name: 'My Client',
      redirect_uris: [p.redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    });
    const s1 = p.state();
    const s2 = p.state();
    expect(s1).not.toBe(s2);
    expect(p.states).toEqual([s1, s2]);
    expect(p.lastState).toBe(s2);

    p.saveClientInformation({ client_id: 'cid' });
    p.saveTokens({ access_token: 'at', token_type: 'Bearer', refresh_token: 'rt' });
    p.saveCodeVerifier('v');
    p.redirectToAuthorization(new URL('http://as.test/authorize?x=1'));
    expect(p.lastAuthorizationUrl?.href).toBe('http://as.test/authorize?x=1');
    expect(p.codeVerifier()).toBe('v');

    p.invalidateCredentials('tokens');
    expect(p.tokens()).toBeUndefined();
    expect(p.clientInformation()).toEqual({ client_id: 'cid' });
    p.invalidateCredentials('all');
    expect(p.clientInformation()).toBeUndefined();
    expect(() => p.codeVerifier()).toThrow();
    expect(p.invalidations).toEqual(['tokens', 'all']);
  });

  it('accepts pre-registered client information and metadata overrides', () => {
    const p = new TestOAuthProvider({
      redirectUrl: 'http://localhost:1234/cb',
      clientInformation: { client_id: 'pre', client_secret: 'sec' },
      clientMetadata: { token_endpoint_auth_method: 'client_secret_post', scope: 'mcp' },
    });
    expect(p.clientInformation()).toEqual({ client_id: 'pre', client_secret: 'sec' });
    expect(p.clientMetadata).toMatchObject({ redirect_uris: ['http://localhost:1234/cb'], token_endpoint_auth_method: 'client_secret_post', scope: 'mcp' });
    expect(p.discoveryState()).toBeUndefined();
    p.saveDiscoveryState({ authorizationServerUrl: 'http://as.test' });
    expect(p.discovery).toEqual({ authorizationServerUrl: 'http://as.test' });
    expect(p.discoveryState()).toBeUndefined();
    const cached = new TestOAuthProvider({ cacheDiscovery: true });
    cached.saveDiscoveryState({ authorizationServerUrl: 'http://as.test' });
    expect(cached.discoveryState()).toEqual({ authorizationServerUrl: 'http://as.test' });
  });

  it('connectWithOAuth is exported (exercised by the e2e suite against the real gateway)', () => {
    expect(typeof connectWithOAuth).toBe('function');
  });
});
