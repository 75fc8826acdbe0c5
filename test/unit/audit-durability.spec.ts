import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { AuditEvent } from '../../server/src/audit/audit-event.entity';
import { AuditCount, AuditRollup, AuditToolRollup } from '../../server/src/audit/audit-rollup.entity';
import { AuditService } from '../../server/src/audit/audit.service';
import { SettledHours } from '../../server/src/audit/settled-hours';
import { loadConfig } from '../../server/src/config/config.loader';
import { ConfigService } from '../../server/src/config/config.service';
import { Transactions } from '../../server/src/database/transactions';

describe('AuditService: what a crash can lose', () => {
  let ds: DataSource;
  let transactions: Transactions;
  let audit: AuditService;
  const count = (type: string) => ds.getRepository(AuditEvent).countBy({ type });

  beforeEach(async () => {
    ds = new DataSource({ type: 'better-sqlite3', database: ':memory:', entities: [AuditEvent, AuditRollup, AuditToolRollup, AuditCount], synchronize: true });
    await ds.initialize();
    transactions = new Transactions(ds);
    const config = new ConfigService(loadConfig({}));
    audit = new AuditService(ds.getRepository(AuditEvent), config, transactions, new SettledHours());
  });
  afterEach(async () => {
    jest.useRealTimers();
    await ds.destroy();
  });

  it('a batched (proxied-request) row reaches the database 50 ms after it was queued', async () => {
    jest.useFakeTimers();
    audit.record({ type: 'mcp.request', outcome: 'success' });
    await jest.advanceTimersByTimeAsync(49);
    expect(await count('mcp.request')).toBe(0);
    await jest.advanceTimersByTimeAsync(1);
    expect(await count('mcp.request')).toBe(1);
  });

  it('recordNow writes before it resolves', async () => {
    await audit.recordNow({ type: 'login', outcome: 'failure' });
    expect(await count('login')).toBe(1);
  });

  it('recordIn commits with the transaction of its change, and rolls back with it', async () => {
    await transactions.run((tx) => audit.recordIn(tx, { type: 'token.issue', outcome: 'success' }));
    await expect(
      transactions.run(async (tx) => {
        await audit.recordIn(tx, { type: 'token.issue', outcome: 'success' });
        throw new Error('the change failed');
      }),
    ).rejects.toThrow('the change failed');
    expect(await count('token.issue')).toBe(1);
  });
});
