import type BetterSqlite3 from 'better-sqlite3';
import { Injectable } from '@nestjs/common';
import type { Pool } from 'pg';
import { DataSource, FindOptionsWhere, ObjectLiteral, QueryRunner, Repository } from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import { DatabaseEngine, engineOf } from './engine';

type Statement = [sql: string, params: unknown[]];

/** What Transactions.rangeReads hands its work: query(), on the batch's connection. */
export interface RangeReader {
  query<R>(sql: string, params?: unknown[], raw?: boolean): Promise<R[]>;
}

/**
 * Writes inside one transaction, the same on both engines. Statements are built with TypeORM's
 * query builder, so column names and JSON columns come from the entities as everywhere else, and
 * placeholders are the engine's own. The work function passed to Transactions.run must await only
 * these methods (no fetch, no timers, no other I/O): on SQLite that is what keeps the transaction
 * within one turn of the event loop (checked), on PostgreSQL it keeps row locks short.
 */
export abstract class Tx {
  /** Run by Transactions.run once the transaction has committed (never after a rollback). */
  readonly committed: Array<() => void> = [];

  abstract readonly engine: DatabaseEngine;

  /** Calls fn after the commit: for news of the change (e.g. metrics, cache invalidation) that must not outrun or outlive it. */
  afterCommit(fn: () => void): void {
    this.committed.push(fn);
  }

  /** The given columns (entity property names) of the matching rows, read inside the transaction; raw values (JSON columns stay strings). */
  find<E extends ObjectLiteral, K extends keyof E & string>(repo: Repository<E>, where: FindOptionsWhere<E>, columns: K[]): Promise<Pick<E, K>[]> {
    const qb = repo.createQueryBuilder('row').select([]).where(where);
    for (const c of columns) qb.addSelect(`row.${c}`, c);
    return this.rows(qb.getQueryAndParameters()) as Promise<Pick<E, K>[]>;
  }

  /** Inserts one row or several; returns how many went in. */
  insert<E extends ObjectLiteral>(repo: Repository<E>, values: QueryDeepPartialEntity<E> | QueryDeepPartialEntity<E>[]): Promise<number> {
    // updateEntity(false): no RETURNING of generated columns on PostgreSQL (nothing reads them here).
    return this.changes(repo.createQueryBuilder().insert().values(values).updateEntity(false).getQueryAndParameters());
  }

  /** Inserts, or on a clash of the conflict columns (database names) overwrites the update columns. */
  upsert<E extends ObjectLiteral>(repo: Repository<E>, values: QueryDeepPartialEntity<E>, update: string[], conflict: string[]): Promise<number> {
    return this.changes(repo.createQueryBuilder().insert().values(values).orUpdate(update, conflict).updateEntity(false).getQueryAndParameters());
  }

  /**
   * Returns how many rows matched: a conditional update (… WHERE x IS NULL) is a claim that 0 lost.
   * On PostgreSQL (READ COMMITTED) a concurrent claimer waits for the winner's row lock, then
   * re-checks the condition on the committed row and matches nothing: one winner across replicas.
   */
  update<E extends ObjectLiteral>(repo: Repository<E>, where: FindOptionsWhere<E>, set: QueryDeepPartialEntity<E>): Promise<number> {
    return this.changes(repo.createQueryBuilder().update().set(set).where(where).updateEntity(false).getQueryAndParameters());
  }

  delete<E extends ObjectLiteral>(repo: Repository<E>, where: FindOptionsWhere<E>): Promise<number> {
    return this.changes(repo.createQueryBuilder().delete().where(where).getQueryAndParameters());
  }

  /**
   * Holds a lock on `key` until the transaction ends, so that transactions about the same thing
   * (e.g. one vault address, which may not have a row yet to lock) take turns. SQLite's
   * transactions take turns already; PostgreSQL takes a transaction-level advisory lock.
   */
  abstract lock(key: string): Promise<void>;

  /**
   * Hand-written SQL that both engines accept (e.g. INSERT … ON CONFLICT … DO UPDATE with
   * arithmetic, which the query builder cannot express), with `?` placeholders; returns the row count.
   * No `?` may appear inside a string literal of sql.
   */
  abstract execute(sql: string, params: unknown[]): Promise<number>;

  protected abstract rows(statement: Statement): Promise<unknown[]>;
  protected abstract changes(statement: Statement): Promise<number>;
}

class SqliteTx extends Tx {
  readonly engine = 'sqlite' as const;

  constructor(
    readonly db: BetterSqlite3.Database,
    private readonly prepare: (sql: string) => BetterSqlite3.Statement,
  ) {
    super();
  }

  execute(sql: string, params: unknown[]): Promise<number> {
    return Promise.resolve(this.prepare(sql).run(...params).changes);
  }

  lock(): Promise<void> {
    return Promise.resolve();
  }

  // better-sqlite3 answers at once: each promise is already settled, so the transaction never
  // waits for I/O and other requests' callbacks cannot run inside it.
  protected rows([sql, params]: Statement): Promise<unknown[]> {
    return Promise.resolve(this.prepare(sql).all(...params));
  }

  protected changes([sql, params]: Statement): Promise<number> {
    return Promise.resolve(this.prepare(sql).run(...params).changes);
  }
}

class PostgresTx extends Tx {
  readonly engine = 'postgres' as const;

  constructor(private readonly runner: QueryRunner) {
    super();
  }

  execute(sql: string, params: unknown[]): Promise<number> {
    return this.changes([numberedPlaceholders(sql), params]);
  }

  async lock(key: string): Promise<void> {
    await this.runner.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [key]);
  }

  protected async rows([sql, params]: Statement): Promise<unknown[]> {
    return (await this.runner.query(sql, params, true)).records as unknown[];
  }

  protected async changes([sql, params]: Statement): Promise<number> {
    return (await this.runner.query(sql, params, true)).affected ?? 0;
  }
}

/** `?` placeholders as PostgreSQL's `$1, $2, …`. */
export function numberedPlaceholders(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

/**
 * Runs a change and what records it (token rows, the audit row) as ONE transaction, so a crash
 * (even kill -9) keeps all of it or none.
 *
 * SQLite: why not DataSource.transaction(): TypeORM's better-sqlite3 driver has a single connection
 * and a single shared query runner, so an async transaction there takes in whatever queries other
 * requests run between its awaits, and two concurrent ones nest as savepoints of each other. Here
 * transactions take turns (a queue), BEGIN IMMEDIATE … COMMIT runs on better-sqlite3 directly, and
 * every Tx method settles at once, so the whole transaction runs within one turn of the event loop:
 * no I/O callback of another request runs inside it. A work function that awaits real I/O breaks
 * that, and is refused (rolled back with an error) rather than silently taking others' writes in.
 *
 * PostgreSQL: a QueryRunner of its own from the pool, READ COMMITTED; one-time things are
 * conditional UPDATEs (Tx.update) whose row lock makes exactly one concurrent claimer win, on
 * any replica.
 */
@Injectable()
export class Transactions {
  readonly engine: DatabaseEngine;
  /** The SQLite queue: the tail of the transactions waiting for their turn. */
  private turn: Promise<unknown> = Promise.resolve();
  /** Prepared once per SQL text (texts come from code, not from clients: bounded). */
  private statements = new Map<string, BetterSqlite3.Statement>();
  private statementsDb: BetterSqlite3.Database | null = null;

  constructor(private readonly dataSource: DataSource) {
    this.engine = engineOf(dataSource);
  }

  /** SQLite only: the connection TypeORM uses; writes through it are seen by every repository at once. */
  get db(): BetterSqlite3.Database {
    if (this.engine !== 'sqlite') throw new Error('Transactions.db is the SQLite connection; this gateway runs on PostgreSQL');
    return (this.dataSource.driver as unknown as { databaseConnection: BetterSqlite3.Database }).databaseConnection;
  }

  /**
   * A read outside any transaction, in hand-written SQL both engines accept (`?` placeholders,
   * quoted camelCase aliases): rows as objects, or as arrays of values with `raw`. On SQLite the
   * statement is prepared once per text and answers at once.
   */
  async query<R>(sql: string, params: unknown[] = [], raw = false): Promise<R[]> {
    if (this.engine === 'sqlite') return this.readSqlite(sql, params, raw);
    // The pool's own query (a connection for one statement), with pg's row arrays for raw reads.
    const pool = (this.dataSource.driver as unknown as { master: Pool }).master;
    const text = numberedPlaceholders(sql);
    const result = raw ? await pool.query({ text, values: params, rowMode: 'array' }) : await pool.query(text, params);
    return result.rows as R[];
  }

  /**
   * Reads that each sum a range of many rows (the dashboard's rollups), run together. On
   * PostgreSQL they share one connection, in a read-only transaction with parallel plans off
   * (`SET LOCAL max_parallel_workers_per_gather = 0`): the planner picks a parallel scan for such
   * ranges, and on the small machines a gateway runs on, starting its workers cost more than they
   * saved (the full-size dashboard took twice as long with them). Three round trips more, for the
   * whole batch. On SQLite, plain query().
   */
  async rangeReads<T>(work: (read: RangeReader) => Promise<T>): Promise<T> {
    if (this.engine === 'sqlite') return work({ query: async (sql, params = [], raw = false) => this.readSqlite(sql, params, raw) });
    const client = await (this.dataSource.driver as unknown as { master: Pool }).master.connect();
    let broken = false;
    try {
      await client.query('BEGIN READ ONLY');
      await client.query('SET LOCAL max_parallel_workers_per_gather = 0');
      const result = await work({
        query: async <R>(sql: string, params: unknown[] = [], raw = false) => {
          const text = numberedPlaceholders(sql);
          const res = raw ? await client.query({ text, values: params, rowMode: 'array' }) : await client.query(text, params);
          return res.rows as R[];
        },
      });
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => (broken = true));
      throw err;
    } finally {
      // A connection that could not even roll back is closed, not handed out again.
      client.release(broken || undefined);
    }
  }

  /**
   * Rows of a read to walk one at a time: on SQLite a live statement (nothing may await while it is
   * open: the connection is shared), on PostgreSQL the rows fetched at once (callers bound them
   * with LIMIT).
   */
  async iterate<R>(sql: string, params: unknown[]): Promise<Iterable<R>> {
    if (this.engine === 'sqlite') return this.prepared(this.db, sql).iterate(...params) as IterableIterator<R>;
    return this.query<R>(sql, params);
  }

  /** Runs work in a transaction and commits when it resolves; a throw rolls it all back. */
  run<T>(work: (tx: Tx) => Promise<T>): Promise<T> {
    return this.engine === 'sqlite' ? this.runSqlite(work) : this.runPostgres(work);
  }

  private runSqlite<T>(work: (tx: Tx) => Promise<T>): Promise<T> {
    const mine = this.turn.then(() => this.sqliteTransaction(work));
    this.turn = mine.catch(() => undefined);
    return mine;
  }

  private async sqliteTransaction<T>(work: (tx: Tx) => Promise<T>): Promise<T> {
    const db = this.db;
    if (db.inTransaction) {
      // Someone holds an async TypeORM transaction open: ours would silently become part of it.
      throw new Error('a TypeORM transaction is open on the shared SQLite connection; use Transactions.run instead');
    }
    const tx = new SqliteTx(db, (sql) => this.prepared(db, sql));
    // Fires only if the work lets the event loop turn (awaits I/O or a timer) before it ends: a
    // guard against misuse, not a lock (I/O that completes before a check phase could slip past).
    let awaitedIo = false;
    const watch = setImmediate(() => (awaitedIo = true));
    db.exec('BEGIN IMMEDIATE');
    let result: T;
    try {
      result = await work(tx);
      if (awaitedIo) throw new Error('a Transactions.run work function awaited I/O; it may await only its Tx methods');
    } catch (err) {
      if (db.inTransaction) db.exec('ROLLBACK');
      throw err;
    } finally {
      clearImmediate(watch);
    }
    db.exec('COMMIT');
    for (const fn of tx.committed) fn();
    return result;
  }

  private async runPostgres<T>(work: (tx: Tx) => Promise<T>): Promise<T> {
    const runner = this.dataSource.createQueryRunner();
    await runner.connect();
    try {
      await runner.startTransaction('READ COMMITTED');
      const tx = new PostgresTx(runner);
      let result: T;
      try {
        result = await work(tx);
        await runner.commitTransaction();
      } catch (err) {
        if (runner.isTransactionActive) await runner.rollbackTransaction();
        throw err;
      }
      for (const fn of tx.committed) fn();
      return result;
    } finally {
      await runner.release();
    }
  }

  private readSqlite<R>(sql: string, params: unknown[], raw: boolean): R[] {
    const statement = this.prepared(this.db, sql);
    return (raw ? statement.raw().all(...params) : statement.all(...params)) as R[];
  }

  private prepared(db: BetterSqlite3.Database, sql: string): BetterSqlite3.Statement {
    if (this.statementsDb !== db) {
      this.statements = new Map();
      this.statementsDb = db;
    }
    let statement = this.statements.get(sql);
    if (!statement) this.statements.set(sql, (statement = db.prepare(sql)));
    return statement;
  }
}
