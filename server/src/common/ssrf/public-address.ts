import ipaddr from 'ipaddr.js';

/** IANA global unicast (RFC 4291 §2.4): every other IPv6 block is special-purpose or unassigned. */
const GLOBAL_UNICAST_V6 = ipaddr.parseCIDR('2000::/3');

/**
 * Why a fetch made on behalf of someone else must not connect to this address (SSRF), or null when
 * it is a public unicast address. The classification is ipaddr.js's special-purpose registry
 * (RFC 6890 and successors): anything but 'unicast' is refused — loopback, private, link-local,
 * unique-local, CGNAT, unspecified, multicast, broadcast, reserved, documentation, benchmarking…
 *
 * IPv6 forms that carry an IPv4 address reach that IPv4 host (through the kernel, a NAT64 or a relay),
 * so the embedded IPv4 must be public too: IPv4-mapped ::ffff:a.b.c.d (RFC 4291 §2.5.5.2), IPv4-translated
 * ::ffff:0:a.b.c.d (RFC 6145), NAT64 64:ff9b::/96 (RFC 6052) and 64:ff9b:1::/48 (RFC 8215), 6to4 2002::/16
 * (RFC 3056) and Teredo 2001::/32 (RFC 4380).
 */
export function nonPublicReason(address: string): string | null {
  let ip: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    ip = ipaddr.parse(address);
  } catch {
    return 'not an IP address';
  }
  if (ip.kind() === 'ipv4') return ipv4Reason(ip as ipaddr.IPv4);
  const v6 = ip as ipaddr.IPv6;
  const range = v6.range();
  const embedded = embeddedIPv4(v6, range);
  if (embedded) {
    for (const v4 of embedded) {
      const why = ipv4Reason(v4);
      if (why) return `${range} address of ${why} ${v4.toString()}`;
    }
    return null;
  }
  if (range !== 'unicast') return range;
  // ipaddr.js calls everything it has no name for 'unicast', including the deprecated IPv4-compatible
  // ::a.b.c.d (RFC 4291 §2.5.5.1) and unassigned space: only 2000::/3 is routed on the internet.
  if (!v6.match(GLOBAL_UNICAST_V6)) return 'outside global unicast 2000::/3';
  return null;
}

export function isPublicAddress(address: string): boolean {
  return nonPublicReason(address) === null;
}

function ipv4Reason(ip: ipaddr.IPv4): string | null {
  const range = ip.range();
  return range === 'unicast' ? null : range;
}

/** The IPv4 address(es) an IPv6 address of these ranges leads to; null for other ranges. */
function embeddedIPv4(ip: ipaddr.IPv6, range: string): ipaddr.IPv4[] | null {
  const b = ip.toByteArray();
  const v4 = (...octets: number[]) => new ipaddr.IPv4(octets.map((o) => o & 0xff));
  switch (range) {
    case 'ipv4Mapped': // ::ffff:a.b.c.d
    case 'rfc6145': // ::ffff:0:a.b.c.d
      return [v4(b[12], b[13], b[14], b[15])];
    case 'rfc6052':
      // The well-known prefix 64:ff9b::/96 carries the IPv4 in its last 32 bits (RFC 6052 §2.2).
      if (b[4] === 0 && b[5] === 0) return [v4(b[12], b[13], b[14], b[15])];
      // The local-use 64:ff9b:1::/48 (RFC 8215) may be cut into a prefix of any length from /48 to /96,
      // and the IPv4 sits at a different place for each (RFC 6052 §2.2): nothing here can tell which
      // host it reaches, so the whole block is refused (0.0.0.0 stands for "unknown").
      return [v4(0, 0, 0, 0)];
    case '6to4': // 2002:AABB:CCDD::/48 → A.B.C.D (RFC 3056 §2)
      return [v4(b[2], b[3], b[4], b[5])];
    case 'teredo':
      // RFC 4380 §4: the Teredo server's IPv4 in bits 32-63, the client's public IPv4 inverted in bits 96-127.
      return [v4(b[4], b[5], b[6], b[7]), v4(~b[12], ~b[13], ~b[14], ~b[15])];
    default:
      return null;
  }
}
