import { isIP } from 'node:net';

/**
 * DNS-rebinding protection by the Host header (MCP transport spec, "Security Warning"; the MCP
 * conformance suite's dns-rebinding-protection scenario). A rebinding attack makes a browser send
 * a page's requests, Host header included, for a hostname the attacker controls to this gateway.
 * So a Host is allowed when the attacker cannot control its name:
 *  - the public URL's hostname;
 *  - an IP address literal (no DNS involved; a page can only have it as its origin if it is ours);
 *  - `localhost` and `*.localhost` (RFC 6761 §6.3: always loopback, never delegated);
 *  - a name in `server.allowed_hosts` (exact, or `.example.com` for that domain and its subdomains),
 *    e.g. the name a reverse proxy puts in Host when it does not pass the client's on.
 * The port is not compared: it plays no part in the attack.
 *
 * The MCP SDK's hostHeaderValidation is an Express middleware with an exact list only; the proxy
 * runs ahead of Express and needs the IP-literal and suffix rules, hence this small class.
 */
export class HostPolicy {
  /** The public URL's Host exactly as clients send it: the common case, compared without parsing. */
  private readonly publicHost: string;
  private readonly names = new Set<string>();
  private readonly domains: string[] = [];

  constructor(publicUrl: string, allowedHosts: string[] = []) {
    const url = new URL(publicUrl);
    this.publicHost = url.host;
    this.names.add(url.hostname);
    for (const entry of allowedHosts) {
      const name = entry.toLowerCase().replace(/\.$/, '');
      if (name.startsWith('.')) this.domains.push(name);
      else this.names.add(name);
    }
  }

  /** The hostname clients should use, for error messages. */
  get expectedHost(): string {
    return this.publicHost;
  }

  /** Whether a request's Host header is allowed; a request without one (HTTP/1.0, never a browser) is. */
  allows(host: string | undefined): boolean {
    if (!host || host === this.publicHost) return true;
    const name = hostnameOf(host);
    if (name === null) return false;
    if (isIP(name.startsWith('[') ? name.slice(1, -1) : name)) return true;
    if (name === 'localhost' || name.endsWith('.localhost')) return true;
    if (this.names.has(name)) return true;
    return this.domains.some((domain) => name.endsWith(domain) || name === domain.slice(1));
  }
}

/**
 * The hostname of a Host header value, normalised as browsers do (WHATWG URL: lower case,
 * punycode, canonical IPv4), without a trailing dot; null when it is not a valid host.
 */
function hostnameOf(host: string): string | null {
  try {
    const url = new URL(`http://${host}/`);
    // "a@b", "a/b", "a?b" or "a#b" parse as another host, or with parts a Host never has.
    if (url.username || url.password || url.pathname !== '/' || url.search || url.hash) return null;
    return url.hostname.replace(/\.$/, '');
  } catch {
    return null;
  }
}
