import http from 'node:http';
import { AddressInfo } from 'node:net';
import { ClientMetadataDocumentsConfig } from '../../server/src/config/config.schema';
import { ConfigService } from '../../server/src/config/config.service';
import { ClientMetadataService } from '../../server/src/oauth/cimd/client-metadata.service';
import { RateLimiter } from '../../server/src/proxy/rate-limiter';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('client metadata document cache', () => {
  let server: http.Server;
  let origin: string;
  const hits: Record<string, number> = {};

  beforeAll(async () => {
    // Any /doc-N is a valid document for its own URL; each fetch is counted.
    server = http.createServer((req, res) => {
      hits[req.url!] = (hits[req.url!] ?? 0) + 1;
      const body = JSON.stringify({ client_id: `${origin}${req.url}`, redirect_uris: ['http://127.0.0.1:4000/cb'] });
      res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'max-age=300' }).end(body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  function service(settings: Partial<ClientMetadataDocumentsConfig>): ClientMetadataService {
    const documents = Object.assign(new ClientMetadataDocumentsConfig(), { allow_private_networks: true }, settings);
    return new ClientMetadataService(new ConfigService({ client_metadata_documents: documents } as any));
  }
  const fetches = (path: string) => hits[path] ?? 0;

  it('keeps at most max_cached_documents, dropping the least recently used first', async () => {
    const cimd = service({ max_cached_documents: 3 });
    const paths = ['/a1', '/a2', '/a3', '/a4', '/a5'];
    for (const p of paths) await cimd.resolve(`${origin}${p}`);
    for (const p of paths) expect(fetches(p)).toBe(1);
    // The three most recent are served from the cache…
    for (const p of ['/a3', '/a4', '/a5']) await cimd.resolve(`${origin}${p}`);
    for (const p of ['/a3', '/a4', '/a5']) expect(fetches(p)).toBe(1);
    // …the two oldest were dropped and are fetched again.
    await cimd.resolve(`${origin}/a1`);
    expect(fetches('/a1')).toBe(2);
  });

  it('never serves an expired document', async () => {
    const cimd = service({ max_cache_seconds: 1 });
    await cimd.resolve(`${origin}/b1`);
    await cimd.resolve(`${origin}/b1`);
    expect(fetches('/b1')).toBe(1);
    await sleep(1100);
    await cimd.resolve(`${origin}/b1`);
    expect(fetches('/b1')).toBe(2);
  });

  it('caches nothing when max_cache_seconds is 0', async () => {
    const cimd = service({ max_cache_seconds: 0 });
    await cimd.resolve(`${origin}/c1`);
    await cimd.resolve(`${origin}/c1`);
    expect(fetches('/c1')).toBe(2);
  });
});

describe('proxy rate-limit buckets', () => {
  it('never hold more than their bound; the least recently seen key is dropped', () => {
    const limiter = new RateLimiter(1, 3);
    const t = 1_000_000;
    expect(limiter.take('a', t)).toBe(0);
    expect(limiter.take('a', t)).toBeGreaterThan(0); // 'a' is over its limit
    for (const key of ['b', 'c', 'd', 'e']) expect(limiter.take(key, t)).toBe(0);
    expect(limiter.size).toBe(3);
    // 'a' was the oldest: forgotten, it starts over with a full bucket.
    expect(limiter.take('a', t)).toBe(0);
    expect(limiter.size).toBe(3);
  });

  it('a key still being limited stays remembered while others come and go within the bound', () => {
    const limiter = new RateLimiter(1, 3);
    const t = 1_000_000;
    limiter.take('a', t);
    limiter.take('b', t);
    expect(limiter.take('a', t)).toBeGreaterThan(0);
    limiter.take('c', t);
    expect(limiter.take('a', t)).toBeGreaterThan(0);
  });
});
