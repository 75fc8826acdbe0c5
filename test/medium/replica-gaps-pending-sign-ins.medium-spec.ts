import { randomBytes } from 'node:crypto';
import { AuditModule } from '../../server/src/audit/audit.module';
import { PendingSignInRecord } from '../../server/src/pending-sign-ins/pending-sign-in.entity';
import { MAX_PENDING_PER_REQUESTER, PendingSignIns } from '../../server/src/pending-sign-ins/pending-sign-ins.service';
import { PendingSignInsModule } from '../../server/src/pending-sign-ins/pending-sign-ins.module';
import { createNestContext, NestContext } from './nest-context';

/** Pending sign-ins in the database (both engines): what a callback on any replica finds, once. */
describe('pending sign-ins', () => {
  let ctx: NestContext;
  let pending: PendingSignIns;
  const key = () => randomBytes(32).toString('base64url');
  const rows = () => ctx.db.getRepository(PendingSignInRecord).find();

  beforeAll(async () => {
    ctx = await createNestContext({ imports: [AuditModule, PendingSignInsModule] });
    pending = ctx.app.get(PendingSignIns);
  });
  afterAll(async () => {
    await ctx?.close();
    ctx?.cleanup();
  });

  it('are taken once, by their key and kind only', async () => {
    const k = key();
    await pending.put('oidc', k, 'ip:127.0.0.1', { provider: 'corp', stateData: { code_verifier: 'v' } });
    expect(await pending.take('upstream', k)).toBeNull();
    expect(await pending.take('oidc', key())).toBeNull();
    for (const bad of [undefined, null, '', 42, 'x'.repeat(600)]) expect(await pending.take('oidc', bad)).toBeNull();
    expect(await pending.take('oidc', k)).toEqual({ provider: 'corp', stateData: { code_verifier: 'v' } });
    expect(await pending.take('oidc', k)).toBeNull();
  });

  it('of two takes at the same moment, exactly one gets the data', async () => {
    const k = key();
    await pending.put('upstream', k, 'user:u1', { userId: 'u1' });
    const results = await Promise.all([pending.take('upstream', k), pending.take('upstream', k), pending.take('upstream', k)]);
    expect(results.filter((r) => r !== null)).toEqual([{ userId: 'u1' }]);
  });

  it('a take its check refuses leaves the row for the right taker', async () => {
    const k = key();
    await pending.put('upstream', k, 'user:u2', { userId: 'u2' });
    expect(await pending.take<{ userId: string }>('upstream', k, (p) => p.userId === 'someone else')).toBeNull();
    expect(await pending.take<{ userId: string }>('upstream', k, (p) => p.userId === 'u2')).toEqual({ userId: 'u2' });
  });

  it('keep neither the key nor the data readable in the table', async () => {
    const k = key();
    const verifier = `verifier-${key()}`;
    await pending.put('oidc', k, 'ip:10.0.0.1', { stateData: { code_verifier: verifier } });
    const stored = JSON.stringify(await rows());
    expect(stored).not.toContain(k);
    expect(stored).not.toContain(verifier);
    expect(await pending.take('oidc', k)).toEqual({ stateData: { code_verifier: verifier } });
  });

  it('a sealed value moved to another row does not open', async () => {
    const [k1, k2] = [key(), key()];
    await pending.put('oidc', k1, 'ip:10.0.0.2', { who: 'first' });
    await pending.put('oidc', k2, 'ip:10.0.0.2', { who: 'second' });
    const repo = ctx.db.getRepository(PendingSignInRecord);
    const mine = (await repo.find({ where: { requester: 'ip:10.0.0.2' } })).sort((a, b) => a.createdAt - b.createdAt);
    await repo.update({ id: mine[1].id }, { sealed: mine[0].sealed });
    expect(await pending.take('oidc', k2)).toBeNull();
    expect(await pending.take('oidc', k1)).toEqual({ who: 'first' });
  });

  it('expire, and the purge deletes the expired rows only', async () => {
    const [old, fresh] = [key(), key()];
    await pending.put('oidc', old, 'ip:10.0.0.3', { n: 1 });
    await pending.put('oidc', fresh, 'ip:10.0.0.3', { n: 2 });
    const repo = ctx.db.getRepository(PendingSignInRecord);
    const [first] = (await repo.find({ where: { requester: 'ip:10.0.0.3' } })).sort((a, b) => a.createdAt - b.createdAt);
    await repo.update({ id: first.id }, { expiresAt: Date.now() - 1 });
    expect(await pending.take('oidc', old)).toBeNull();
    expect(await pending.purgeExpired()).toBeGreaterThanOrEqual(1);
    expect(await repo.findOne({ where: { id: first.id } })).toBeNull();
    expect(await pending.take('oidc', fresh)).toEqual({ n: 2 });
  });

  it('are bounded per requester: starting more drops the oldest', async () => {
    const keys: string[] = [];
    for (let i = 0; i < MAX_PENDING_PER_REQUESTER + 5; i++) {
      keys.push(key());
      await pending.put('oidc', keys[i], 'ip:192.0.2.9', { i });
    }
    const repo = ctx.db.getRepository(PendingSignInRecord);
    expect(await repo.count({ where: { requester: 'ip:192.0.2.9' } })).toBe(MAX_PENDING_PER_REQUESTER);
    // Another requester is not affected.
    const other = key();
    await pending.put('oidc', other, 'ip:192.0.2.10', { i: -1 });
    expect(await pending.take('oidc', other)).toEqual({ i: -1 });
    expect(await pending.take('oidc', keys.at(-1))).toEqual({ i: MAX_PENDING_PER_REQUESTER + 4 });
    // The newest few are kept; the oldest went first.
    const kept = await Promise.all(keys.slice(0, 5).map((k) => pending.take('oidc', k)));
    expect(kept.filter((k) => k !== null).length).toBeLessThan(5);
  });
});
