import { hasUserinfo, redirectUriMatches, redirectUriProblem } from '../../server/src/oauth/redirect-uri';

describe('redirect URIs and userinfo (RFC 3986 §3.2.1)', () => {
  it.each(['http://evil@127.0.0.1:5555/cb', 'http://evil:pw@127.0.0.1/cb', 'http://:pw@localhost/cb', 'http://@127.0.0.1/cb', 'https://app.example@evil.example/cb'])(
    'refuses %s at registration and in metadata documents',
    (uri) => {
      expect(hasUserinfo(uri)).toBe(true);
      expect(redirectUriProblem(uri)).toMatch(/user name or password/);
    },
  );

  it.each(['http://127.0.0.1:5555/cb', 'https://app.example/cb?next=a@b.example', 'https://app.example/path@x'])('accepts %s', (uri) => {
    expect(hasUserinfo(uri)).toBe(false);
    expect(redirectUriProblem(uri)).toBeNull();
  });

  it('a loopback redirect with userinfo never matches the registered one, on any port', () => {
    expect(redirectUriMatches('http://127.0.0.1/cb', 'http://127.0.0.1:5555/cb')).toBe(true);
    expect(redirectUriMatches('http://127.0.0.1/cb', 'http://evil@127.0.0.1:5555/cb')).toBe(false);
    expect(redirectUriMatches('http://127.0.0.1/cb', 'http://@127.0.0.1:5555/cb')).toBe(false);
    expect(redirectUriMatches('http://localhost:80/cb', 'http://u:p@localhost/cb')).toBe(false);
  });
});
