import { createHash, timingSafeEqual } from 'node:crypto';

export type MetricsAccess = 'allowed' | 'disabled' | 'missing' | 'invalid';

/**
 * Who may read /metrics on the gateway's own port: the holder of metrics.token, sent as
 * `Authorization: Bearer <token>` (RFC 6750 §2.1). Without a configured token that /metrics is
 * off (metrics.listen may serve it on loopback instead).
 */
export class MetricsTokenCheck {
  private readonly expected: Buffer | null;

  constructor(token: string | undefined) {
    this.expected = token ? digest(token) : null;
  }

  check(authorization: string | undefined): MetricsAccess {
    if (!this.expected) return 'disabled';
    if (!authorization) return 'missing';
    const match = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i.exec(authorization);
    if (!match) return 'invalid';
    // Digests of equal length, compared in constant time: neither the token nor its length leaks by timing.
    return timingSafeEqual(digest(match[1]), this.expected) ? 'allowed' : 'invalid';
  }
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}
