import { BeforeApplicationShutdown, Injectable, Logger } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import { Transactions } from '../../database/transactions';
import { Grant } from '../grant.entity';

/** A grant's last_used_at moves at most this often: the console shows minutes, not milliseconds. */
export const LAST_USED_RESOLUTION_MS = 60_000;
/** How long marks wait to be written together. */
const FLUSH_AFTER_MS = 2_000;

/**
 * grants.last_used_at, kept cheaply from the proxy's hot path: touch() is a Map lookup and, at
 * most once a minute per grant, a Map insert; the writes are batched into one transaction a
 * couple of seconds later (and on shutdown). A crash loses at most the marks of those seconds.
 * Memory: one entry per grant used within the last minute (grants are ours, not outsiders' keys),
 * pruned at every flush.
 */
@Injectable()
export class GrantLastUsed implements BeforeApplicationShutdown {
  private readonly logger = new Logger('Grants');
  /** grant id → when it was last marked used. */
  private readonly marked = new Map<string, number>();
  /** grant id → the time to write, not yet written. */
  private pending = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    @InjectRepository(Grant) private readonly grants: Repository<Grant>,
    private readonly transactions: Transactions,
  ) {}

  /** The grant's token was just used. */
  touch(grantId: string, now: number): void {
    const last = this.marked.get(grantId);
    if (last !== undefined && now - last < LAST_USED_RESOLUTION_MS) return;
    this.marked.set(grantId, now);
    this.pending.set(grantId, now);
    if (!this.timer) {
      this.timer = setTimeout(() => void this.flush(), FLUSH_AFTER_MS);
      this.timer.unref();
    }
  }

  /** Writes every pending mark now (the grants list calls this first, so it shows them). */
  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const batch = this.pending;
    this.pending = new Map();
    if (batch.size) {
      try {
        await this.transactions.run(async (tx) => {
          for (const [id, at] of batch) await tx.update(this.grants, { id }, { lastUsedAt: at });
        });
      } catch (err) {
        this.logger.error(`could not record when ${batch.size} grants were last used: ${(err as Error).message}`);
      }
    }
    const stale = Date.now() - LAST_USED_RESOLUTION_MS;
    for (const [id, at] of this.marked) if (at < stale) this.marked.delete(id);
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.flush();
  }
}
