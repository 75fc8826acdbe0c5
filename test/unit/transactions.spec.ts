import 'reflect-metadata';
import { DataSource, IsNull } from 'typeorm';
import { Transactions } from '../../server/src/database/transactions';
import { RefreshToken } from '../../server/src/oauth/refresh-token.entity';

describe('Transactions (one synchronous SQLite transaction)', () => {
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
    const claims = tx.run((t) => {
      t.insert(repo, [row('a'), row('b')]);
      return [t.update(repo, { tokenHash: 'a', rotatedAt: IsNull() }, { rotatedAt: 5 }), t.update(repo, { tokenHash: 'a', rotatedAt: IsNull() }, { rotatedAt: 6 })];
    });
    expect(claims).toEqual([1, 0]);
    expect(await repo.findOneBy({ tokenHash: 'a' })).toMatchObject({ rotatedAt: 5 });
    expect(tx.run((t) => t.find(repo, { rotatedAt: 5 }, ['tokenHash', 'rotatedAt']))).toEqual([{ tokenHash: 'a', rotatedAt: 5 }]);
    expect(tx.run((t) => t.delete(repo, { tokenHash: 'b' }))).toBe(1);
    expect(await repo.count()).toBe(1);
  });

  it('a throw rolls back every write made before it', async () => {
    const repo = ds.getRepository(RefreshToken);
    expect(() =>
      tx.run((t) => {
        t.insert(repo, row('c'));
        t.insert(repo, row('c')); // primary key clash
      }),
    ).toThrow(/UNIQUE/);
    expect(await repo.count()).toBe(0);
  });

  it('refuses to nest inside a transaction someone else holds open on the connection', async () => {
    const runner = ds.createQueryRunner();
    await runner.startTransaction();
    try {
      expect(() => tx.run(() => 1)).toThrow('a TypeORM transaction is open');
    } finally {
      await runner.rollbackTransaction();
    }
    expect(tx.run(() => 2)).toBe(2);
  });
});
