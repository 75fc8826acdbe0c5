import { randomUUID } from 'node:crypto';
import 'reflect-metadata';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { dataSourceOptions, openDataSource } from '../../server/src/database/engine';
import { Grant } from '../../server/src/oauth/grant.entity';
import { OAuthClient } from '../../server/src/oauth/client.entity';
import { User } from '../../server/src/identity/user.entity';
import { dropPostgresDatabase, postgresDatabase } from '../helpers/test-database';

/**
 * Both engines, whatever GATEHOUSE_TEST_DB says: the migrations of each produce exactly the
 * entities' schema, and the types that differ between them (64-bit epoch-ms times, booleans,
 * JSON) read back the same.
 */
describe.each(['sqlite', 'postgres'] as const)('%s: migrations and types', (engine) => {
  const dataDir = mkdtempSync(join(tmpdir(), `gatehouse-schema-${engine}-`));
  let ds: DataSource;

  beforeAll(async () => {
    const url = engine === 'postgres' ? await postgresDatabase(dataDir) : undefined;
    ds = await openDataSource({ ...dataSourceOptions({ url, dataDir }), entities: [join(__dirname, '..', '..', 'server', 'src', '**', '*.entity.ts')] });
  }, 60_000);
  afterAll(async () => {
    await ds?.destroy();
    if (engine === 'postgres') dropPostgresDatabase(dataDir);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('migrations produce exactly the schema the entities describe', async () => {
    const pending = await ds.driver.createSchemaBuilder().log();
    expect(pending.upQueries.map((q) => q.query)).toEqual([]);
  });

  it('epoch-millisecond times beyond 32 bits, booleans and JSON read back as written', async () => {
    const at = 1_900_000_000_123; // 2030: far beyond a 32-bit integer
    const user = {
      id: randomUUID(),
      email: `${randomUUID()}@example.test`,
      passwordHash: null,
      displayName: null,
      role: 'member' as const,
      disabled: true,
      createdAt: at,
      lastLoginAt: null,
    };
    await ds.getRepository(User).insert(user);
    expect(await ds.getRepository(User).findOneByOrFail({ id: user.id })).toMatchObject({ disabled: true, createdAt: at, lastLoginAt: null });
    const grant = { id: randomUUID(), userId: user.id, clientId: 'c', upstreamSlug: 'u', scope: 's', createdAt: at, lastUsedAt: at + 1, revokedAt: null, revokedReason: null };
    await ds.getRepository(Grant).insert(grant);
    const read = await ds.getRepository(Grant).findOneByOrFail({ id: grant.id });
    expect(read.createdAt).toBe(at);
    expect(typeof read.lastUsedAt).toBe('number');
    const client = ds.getRepository(OAuthClient).create({
      clientId: randomUUID(),
      clientSecretHash: null,
      clientName: 'x',
      redirectUris: ['https://app.example/cb'],
      tokenEndpointAuthMethod: 'none',
      grantTypes: ['authorization_code'],
      responseTypes: ['code'],
      scope: null,
      extraMetadata: { nested: { a: [1, 'two', null] } },
      createdAt: at,
      lastUsedAt: null,
      registrationSource: null,
    });
    await ds.getRepository(OAuthClient).save(client);
    expect(await ds.getRepository(OAuthClient).findOneByOrFail({ clientId: client.clientId })).toMatchObject({
      redirectUris: ['https://app.example/cb'],
      extraMetadata: { nested: { a: [1, 'two', null] } },
      createdAt: at,
    });
    // COUNT(*) is a number on both (PostgreSQL's int8 is parsed as one).
    const [{ n }] = await ds.query('SELECT COUNT(*) AS n FROM grants');
    expect(n).toBe(1);
  });
});
