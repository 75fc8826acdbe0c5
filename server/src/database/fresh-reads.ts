/** Reads a reload makes before leaving the rest to the next one, when changes made here keep crossing them. */
const MAX_READS = 3;

/**
 * Orders the reloads of a table held in memory (the upstream registry, tool policies, the tool
 * catalogue, bundles) with the changes this process makes to it.
 *
 * On PostgreSQL a reload started by another replica's notification, a reconnect or the safety timer
 * may read the rows just before a change made here commits and finish just after: applied, it
 * would put the older state back in memory until the next reload (a replica ignores its own
 * notifications). CI found it: a tool quarantined on one replica lost its pending version there,
 * so its approval answered 409.
 *
 * Reloads run one at a time, in the order they were asked for, so that an earlier read never lands
 * after a later one. Reads are numbered when they begin; one that began before a change made here
 * is read again. A change whose write is still going when memory already shows it (the catalogue records tools
 * without holding up the tools/list answer) is passed to `writing`: reads wait for it to commit.
 */
export class FreshReads {
  private issued = 0;
  /** Reads numbered below this began before the last change made here. */
  private staleBelow = 0;
  private readonly writes = new Set<Promise<unknown>>();
  private queue: Promise<void> = Promise.resolve();

  /** Reads with `read` and hands the rows to `apply` (after the reloads asked for before), unless they are older than memory. */
  reload<T>(read: () => Promise<T>, apply: (rows: T) => void): Promise<void> {
    const run = this.queue.then(() => this.readAndApply(read, apply));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async readAndApply<T>(read: () => Promise<T>, apply: (rows: T) => void): Promise<void> {
    for (let attempt = 1; attempt <= MAX_READS; attempt++) {
      // Numbered before waiting, so that a change made while waiting marks this read stale.
      const number = ++this.issued;
      await this.written();
      const rows = await read();
      if (number < this.staleBelow) continue;
      apply(rows);
      return;
    }
    // Changes made here kept crossing the reads: memory holds them; what other replicas changed is
    // read by the next notification or the safety reload.
  }

  /** A change made here is in memory (committed, or passed to `writing`): reads already begun are stale. */
  changed(): void {
    this.staleBelow = this.issued + 1;
  }

  /** A change already in memory whose write has not committed yet: counts as changed, and reads wait for it. */
  writing<T>(write: Promise<T>): Promise<T> {
    this.changed();
    this.writes.add(write);
    const settled = () => void this.writes.delete(write);
    write.then(settled, settled);
    return write;
  }

  /** Resolves once the writes passed to `writing` so far have settled. */
  async written(): Promise<void> {
    await Promise.allSettled(this.writes);
  }
}
