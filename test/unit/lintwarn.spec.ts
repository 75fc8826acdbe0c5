import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AuditService } from '../../server/src/audit/audit.service';
import { ClientMetadataDocumentsConfig } from '../../server/src/config/config.schema';
import { ConfigService } from '../../server/src/config/config.service';
import { ClientMetadataError, ClientMetadataService } from '../../server/src/oauth/cimd/client-metadata.service';

/**
 * The one message the lint clean-up changed: a client metadata document whose
 * token_endpoint_auth_method is not a string is named in its JSON spelling, not as "[object Object]".
 */
describe('client metadata document: a confidential auth method named in the refusal', () => {
  let server: http.Server;
  let origin: string;

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const methods: Record<string, unknown> = { '/object.json': { kind: 'secret' }, '/string.json': 'client_secret_basic' };
      const doc = { client_id: `${origin}${req.url}`, redirect_uris: ['http://127.0.0.1:4000/cb'], token_endpoint_auth_method: methods[req.url ?? ''] };
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(doc));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  function service(): ClientMetadataService {
    const audit = { recordNow: () => undefined } as unknown as AuditService;
    const documents = Object.assign(new ClientMetadataDocumentsConfig(), { allow_private_networks: true, fetch_timeout_ms: 2000, max_document_bytes: 10_000 });
    return new ClientMetadataService(new ConfigService({ client_metadata_documents: documents } as any), audit);
  }

  it('an object value is shown as JSON', async () => {
    const err = await service()
      .resolve(`${origin}/object.json`)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ClientMetadataError);
    expect((err as Error).message).toBe('The application\'s metadata document asks for {"kind":"secret"}; only public clients ("none") are supported.');
  });

  it('a string value is shown as it is', async () => {
    const err = await service()
      .resolve(`${origin}/string.json`)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ClientMetadataError);
    expect((err as Error).message).toBe('The application\'s metadata document asks for client_secret_basic; only public clients ("none") are supported.');
  });
});
