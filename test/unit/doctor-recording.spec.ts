import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AuditRecord, AuditService } from '../../server/src/audit/audit.service';
import { ClientMetadataDocumentsConfig } from '../../server/src/config/config.schema';
import { ConfigService } from '../../server/src/config/config.service';
import { ClientMetadataError, ClientMetadataService } from '../../server/src/oauth/cimd/client-metadata.service';
import { DiscoverySightings } from '../../server/src/oauth/metadata/discovery-sightings';
import { InvalidGrant } from '../../server/src/oauth/oauth.errors';
import { runChecks } from '../../server/src/oauth/token/token.checks';

/**
 * What the OAuth side records for the connection doctor, on real loopback HTTP: one
 * `client.metadata_document` row per fetch, its failure named by cause (the doctor's rules read
 * `detail.reason`), and the discovery sightings, bounded.
 */
describe('connection doctor: client metadata document rows', () => {
  let server: http.Server;
  let origin: string;
  const open = new Set<http.ServerResponse>();

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const self = `${origin}${req.url}`;
      if (req.url === '/good.json')
        return res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ client_id: self, redirect_uris: ['http://127.0.0.1:4000/cb'] }));
      if (req.url === '/not-json') return res.writeHead(200).end('<html>');
      if (req.url === '/missing') return res.writeHead(404).end();
      if (req.url === '/other-id') return res.writeHead(200).end(JSON.stringify({ client_id: 'https://elsewhere.example/x', redirect_uris: ['http://127.0.0.1:4000/cb'] }));
      if (req.url === '/big') return res.writeHead(200).end('x'.repeat(5000));
      open.add(res); // /slow: never answers (closed in afterAll)
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    for (const res of open) res.destroy();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  function service(settings: Partial<ClientMetadataDocumentsConfig> = {}): { cimd: ClientMetadataService; rows: AuditRecord[] } {
    const rows: AuditRecord[] = [];
    const audit = { recordNow: (row: AuditRecord) => rows.push(row) } as unknown as AuditService;
    const documents = Object.assign(new ClientMetadataDocumentsConfig(), { allow_private_networks: true, fetch_timeout_ms: 300, max_document_bytes: 1000 }, settings);
    return { cimd: new ClientMetadataService(new ConfigService({ client_metadata_documents: documents } as any), audit), rows };
  }

  it('a usable document: one success row, none for a cache hit', async () => {
    const { cimd, rows } = service();
    await cimd.resolve(`${origin}/good.json`);
    await cimd.resolve(`${origin}/good.json`);
    expect(rows).toEqual([{ type: 'client.metadata_document', outcome: 'success', clientId: `${origin}/good.json`, detail: null }]);
  });

  it.each([
    ['/not-json', 'not_json'],
    ['/missing', 'http_status'],
    ['/slow', 'timeout'],
    ['/big', 'too_large'],
    ['/other-id', 'invalid_document'],
  ])('%s: a failure row naming the cause %s', async (path, reason) => {
    const { cimd, rows } = service();
    await expect(cimd.resolve(`${origin}${path}`)).rejects.toBeInstanceOf(ClientMetadataError);
    expect(rows).toEqual([{ type: 'client.metadata_document', outcome: 'failure', clientId: `${origin}${path}`, detail: expect.objectContaining({ reason }) }]);
  });

  it('the SSRF guard refusing a loopback address is named as such, before any connection', async () => {
    const { cimd, rows } = service({ allow_private_networks: false });
    await expect(cimd.resolve(`https://127.0.0.1:1/doc.json`)).rejects.toBeInstanceOf(ClientMetadataError);
    expect(rows[0]).toMatchObject({ outcome: 'failure', detail: { reason: 'ssrf_refused' } });
  });
});

describe('connection doctor: discovery sightings', () => {
  it('remember what a caller (address + User-Agent) fetched, per caller', () => {
    const sightings = new DiscoverySightings();
    sightings.protectedResourceMetadata('10.0.0.1', 'client/1', 'notes');
    sightings.authorizationServerMetadata('10.0.0.1', 'client/1');
    expect(sightings.of('10.0.0.1', 'client/1')).toEqual({ protectedResourceMetadataAt: expect.any(Number), authorizationServerMetadataAt: expect.any(Number), upstream: 'notes' });
    expect(sightings.of('10.0.0.1', 'client/2')).toBeNull();
    expect(sightings.of('10.0.0.2', 'client/1')).toBeNull();
  });

  it('are bounded: past 10,000 callers the least recent is forgotten', () => {
    const sightings = new DiscoverySightings();
    for (let i = 0; i <= 10_000; i++) sightings.authorizationServerMetadata(`10.0.${i >> 8}.${i & 255}`, 'x'.repeat(1000));
    expect(sightings.of('10.0.0.0', 'x'.repeat(1000))).toBeNull();
    expect(sightings.of('10.0.39.16', 'x'.repeat(1000))).not.toBeNull();
    // The User-Agent part of the key is cut at 200 characters.
    expect(sightings.of('10.0.39.16', 'x'.repeat(200))).not.toBeNull();
  });
});

describe('connection doctor: /token refusals name their check', () => {
  it('runChecks tags the OAuthError with the name of the check that threw it (token.refused detail.check)', () => {
    const ctx = { now: 0, upstreamSlugOf: () => undefined };
    const fail = (err: unknown) => {
      try {
        runChecks(
          [
            function passes() {},
            function codeVerifierMatchesChallenge() {
              throw err;
            },
          ],
          {},
          ctx,
        );
      } catch (thrown) {
        return thrown;
      }
      throw new Error('no throw');
    };
    expect((fail(new InvalidGrant('code_verifier does not match')) as InvalidGrant).check).toBe('codeVerifierMatchesChallenge');
    const other = new Error('a bug');
    expect(fail(other)).toBe(other);
    expect((other as { check?: string }).check).toBeUndefined();
  });
});
