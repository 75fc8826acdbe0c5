import { randomUUID } from 'node:crypto';
import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import type { Client, Pool } from 'pg';
import { DataSource } from 'typeorm';
import { engineOf } from './engine';

/**
 * What one replica tells the others so their in-memory views follow the database at once:
 * revoked grants and tokens (the access-token cache), users whose status changed (the profile
 * cache), group memberships (allow-lists by group), upstreams edited in the console (the registry),
 * tool rules and pinning (the tool policy), the tool catalogue (approvals, rejections, changed
 * definitions), named bundles.
 */
export interface Changes {
  'grants.revoked': string[];
  'token.revoked': string;
  'user.changed': string;
  /** A user id whose group memberships changed, or '*' (a group renamed or deleted). */
  'groups.changed': string;
  'upstream.changed': string;
  /** The slug of an upstream whose tool rules or pinning changed. */
  'tool_policy.changed': string;
  /** The slug of an upstream whose tool catalogue changed (a definition recorded, approved or rejected). */
  'tool_catalogue.changed': string;
  /** The name of a named bundle created, edited or deleted. */
  'bundle.changed': string;
  /** A bundle session's notifications/cancelled that named no call open on the replica it reached. */
  'bundle.cancelled': { session: string; requestId: string | number };
}
export type ChangeTopic = keyof Changes;

/** The PostgreSQL channel; payloads are JSON { from, topic, value }, well under NOTIFY's 8000-byte limit (grant ids go in batches). */
const CHANNEL = 'gatehouse_changes';
const IDS_PER_NOTIFY = 100;
/** How soon a lost LISTEN connection is re-opened. */
const RECONNECT_MS = 1_000;

/**
 * Cross-replica cache invalidation over PostgreSQL LISTEN/NOTIFY; nothing to do on SQLite (one
 * process: every change is made where the caches are). A replica ignores its own notifications
 * (it already acted). Notifications can be lost (a replica restarting, the LISTEN connection
 * dropping): after every (re)connect subscribers get `resync` and drop what they hold, and the
 * caches also expire entries after SAFETY_TTL_MS on PostgreSQL, the net under a missed message.
 */
@Injectable()
export class ChangeFeed implements OnApplicationBootstrap, OnApplicationShutdown {
  /** How long a cached verdict may live on PostgreSQL without a notification: the bound on a missed one. */
  static readonly SAFETY_TTL_MS = 30_000;

  private readonly logger = new Logger('ChangeFeed');
  private readonly replica = randomUUID();
  private readonly handlers = new Map<ChangeTopic, Array<(value: never) => void>>();
  private readonly resyncs: Array<() => void> = [];
  private listener: Client | null = null;
  private reconnect: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(private readonly dataSource: DataSource) {}

  get shared(): boolean {
    return engineOf(this.dataSource) === 'postgres';
  }

  /** How long caches keep an entry unrefreshed: SAFETY_TTL_MS with replicas, unbounded on SQLite. */
  get cacheTtlMs(): number {
    return this.shared ? ChangeFeed.SAFETY_TTL_MS : Infinity;
  }

  on<T extends ChangeTopic>(topic: T, handler: (value: Changes[T]) => void): void {
    const list = this.handlers.get(topic) ?? [];
    list.push(handler);
    this.handlers.set(topic, list);
  }

  /** Called after every (re)connect of the feed: what was cached may have missed a change. */
  onResync(handler: () => void): void {
    this.resyncs.push(handler);
  }

  /** Tells the other replicas (after the change has committed); a failure is logged, the TTL covers it. */
  publish<T extends ChangeTopic>(topic: T, value: Changes[T]): void {
    if (!this.shared) return;
    const values: Changes[T][] = Array.isArray(value) ? chunks(value, IDS_PER_NOTIFY).map((c) => c as Changes[T]) : [value];
    const pool = (this.dataSource.driver as unknown as { master: Pool }).master;
    for (const v of values) {
      pool.query('SELECT pg_notify($1, $2)', [CHANNEL, JSON.stringify({ from: this.replica, topic, value: v })]).catch((err: Error) => {
        this.logger.error(`could not notify the other replicas (${topic}): ${err.message}`);
      });
    }
  }

  async onApplicationBootstrap(): Promise<void> {
    if (this.shared) await this.listen();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    if (this.reconnect) clearTimeout(this.reconnect);
    const listener = this.listener;
    this.listener = null;
    await listener?.end().catch(() => undefined);
  }

  private async listen(): Promise<void> {
    const options = this.dataSource.options as { url?: string };
    // Required here: a gateway on SQLite never loads the pg driver (about 3 MB of RSS).
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { Client: PgClient } = require('pg') as typeof import('pg');
    const client = new PgClient({ connectionString: options.url });
    client.on('error', (err) => this.lost(client, err));
    client.on('end', () => this.lost(client, null));
    client.on('notification', (msg) => this.received(msg.payload));
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANNEL}`);
    } catch (err) {
      this.lost(client, err as Error);
      return;
    }
    if (this.stopped) {
      await client.end().catch(() => undefined);
      return;
    }
    this.listener = client;
    for (const resync of this.resyncs) resync();
  }

  private lost(client: Client, err: Error | null): void {
    if (this.stopped || this.reconnect) return;
    if (this.listener === client) this.listener = null;
    if (err) this.logger.warn(`the change feed's connection failed (${err.message}); re-listening`);
    client.end().catch(() => undefined);
    this.reconnect = setTimeout(() => {
      this.reconnect = null;
      void this.listen();
    }, RECONNECT_MS);
    this.reconnect.unref();
  }

  private received(payload: string | undefined): void {
    let message: { from?: string; topic?: ChangeTopic; value?: unknown };
    try {
      message = JSON.parse(payload ?? '') as typeof message;
    } catch {
      return;
    }
    if (message.from === this.replica || !message.topic) return;
    for (const handler of this.handlers.get(message.topic) ?? []) {
      try {
        handler(message.value as never);
      } catch (err) {
        this.logger.error(`a change handler failed on ${message.topic}: ${(err as Error).message}`);
      }
    }
  }
}

function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
