import 'reflect-metadata';
import { DataSource, IsNull } from 'typeorm';
import { Transactions } from '../../server/src/database/transactions';
import { RefreshToken } from '../../server/src/oauth/refresh-token.entity';

describe('Transactions on SQLite (one transaction within one turn of the event loop)', () => {
  let ds: DataSource;
  let tx: Transactions;
  const row = (tokenHash: string) => ({ tokenHash, grantId: 'g', createdAt: 1, expiresAt: 2, rotatedAt: null, rotationNonce: null });

  beforeEach(async () => {
    ds = new DataSource({ type: 'better-sqlite3', database: ':memory:', entities: [RefreshToken], synchronize: true });
    await ds.initialize();
    tx = new Transactions(ds);
  });
  afterEach(() => ds.destroy());

  it('commits every write together, and a conditional update reports whether it matched', async () => {
    const repo = ds.getRepository(RefreshToken);
    const claims = await tx.run(async (t) => {
      await t.insert(repo, [row('a'), row('b')]);
      return [await t.update(repo, { tokenHash: 'a', rotatedAt: IsNull() }, { rotatedAt: 5 }), await t.update(repo, { tokenHash: 'a', rotatedAt: IsNull() }, { rotatedAt: 6 })];
    });
    expect(claims).toEqual([1, 0]);
    expect(await repo.findOneBy({ tokenHash: 'a' })).toMatchObject({ rotatedAt: 5 });
    expect(await tx.run((t) => t.find(repo, { rotatedAt: 5 }, ['tokenHash', 'rotatedAt']))).toEqual([{ tokenHash: 'a', rotatedAt: 5 }]);
    expect(await tx.run((t) => t.delete(repo, { tokenHash: 'b' }))).toBe(1);
    expect(await repo.count()).toBe(1);
  });

  it('a throw rolls back every write made before it', async () => {
    const repo = ds.getRepository(RefreshToken);
    await expect(
      tx.run(async (t) => {
        await t.insert(repo, row('c'));
        await t.insert(repo, row('c')); // primary key clash
      }),
    ).rejects.toMatchObject({ message: expect.stringMatching(/UNIQUE/) });
    expect(await repo.count()).toBe(0);
  });

  it('runs concurrent transactions one after the other, each seeing the last one committed', async () => {
    const repo = ds.getRepository(RefreshToken);
    await tx.run((t) => t.insert(repo, row('d')));
    // Two claims started together: exactly one wins, the other sees the committed claim.
    const claim = (at: number) => tx.run((t) => t.update(repo, { tokenHash: 'd', rotatedAt: IsNull() }, { rotatedAt: at }));
    expect((await Promise.all([claim(1), claim(2)])).sort()).toEqual([0, 1]);
  });

  it("refuses (rolls back) a work function that awaits I/O, which would let other requests' writes into the transaction", async () => {
    const repo = ds.getRepository(RefreshToken);
    await expect(
      tx.run(async (t) => {
        await t.insert(repo, row('e'));
        // A turn of the event loop (as any I/O would be); setImmediate makes the turn certain in a test.
        await new Promise((resolve) => setImmediate(resolve));
      }),
    ).rejects.toThrow('awaited I/O');
    expect(await repo.count()).toBe(0);
    // The connection is usable again.
    expect(await tx.run((t) => t.insert(repo, row('f')))).toBe(1);
  });

  it('refuses to nest inside a transaction someone else holds open on the connection', async () => {
    const runner = ds.createQueryRunner();
    await runner.startTransaction();
    try {
      await expect(tx.run(() => Promise.resolve(1))).rejects.toThrow('a TypeORM transaction is open');
    } finally {
      await runner.rollbackTransaction();
    }
    expect(await tx.run(() => Promise.resolve(2))).toBe(2);
  });
});
