import { FreshReads } from '../../server/src/database/fresh-reads';

/** A promise the test settles by hand. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Lets the reload's awaits run (no timers: promise jobs only). */
const settle = async () => {
  for (let i = 0; i < 10; i++) await Promise.resolve();
};

describe('FreshReads: reloads ordered with the changes made here', () => {
  it('applies what it read when nothing changed here meanwhile', async () => {
    const fresh = new FreshReads();
    const applied: string[] = [];
    await fresh.reload(
      async () => 'rows',
      (rows) => applied.push(rows),
    );
    expect(applied).toEqual(['rows']);
  });

  it('reads again when a change was made here while it was reading', async () => {
    const fresh = new FreshReads();
    const answers = [deferred<string>(), deferred<string>()];
    let reads = 0;
    const applied: string[] = [];
    const reloading = fresh.reload(
      () => answers[reads++].promise,
      (rows) => applied.push(rows),
    );
    await settle();
    expect(reads).toBe(1);
    fresh.changed(); // committed here while the first read was out
    answers[0].resolve('before the change');
    await settle();
    expect(reads).toBe(2);
    answers[1].resolve('after the change');
    await reloading;
    expect(applied).toEqual(['after the change']);
  });

  it('runs reloads one at a time, so an earlier read never lands after a later one', async () => {
    const fresh = new FreshReads();
    const first = deferred<string>();
    const applied: string[] = [];
    let secondBegan = false;
    const one = fresh.reload(
      () => first.promise,
      (rows) => applied.push(rows),
    );
    const two = fresh.reload(
      async () => {
        secondBegan = true;
        return 'second';
      },
      (rows) => applied.push(rows),
    );
    await settle();
    expect(secondBegan).toBe(false);
    first.resolve('first');
    await Promise.all([one, two]);
    expect(applied).toEqual(['first', 'second']);
  });

  it('waits for a write already shown in memory before reading', async () => {
    const fresh = new FreshReads();
    const write = deferred<void>();
    void fresh.writing(write.promise);
    let reads = 0;
    const reloading = fresh.reload(
      async () => ++reads,
      () => undefined,
    );
    await settle();
    expect(reads).toBe(0);
    write.resolve();
    await reloading;
    expect(reads).toBe(1);
  });

  it('a failed read rejects that reload only; the next one still runs', async () => {
    const fresh = new FreshReads();
    await expect(
      fresh.reload(
        () => Promise.reject(new Error('connection lost')),
        () => undefined,
      ),
    ).rejects.toThrow('connection lost');
    const applied: string[] = [];
    await fresh.reload(
      async () => 'rows',
      (rows) => applied.push(rows),
    );
    expect(applied).toEqual(['rows']);
  });

  it('gives up after three reads crossed by changes, leaving memory as the changes made it', async () => {
    const fresh = new FreshReads();
    let reads = 0;
    const applied: number[] = [];
    await fresh.reload(
      async () => {
        fresh.changed();
        return ++reads;
      },
      (rows) => applied.push(rows),
    );
    expect(reads).toBe(3);
    expect(applied).toEqual([]);
  });
});
