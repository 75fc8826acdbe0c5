import type BetterSqlite3 from 'better-sqlite3';
import { Injectable } from '@nestjs/common';
import { DataSource, FindOptionsWhere, ObjectLiteral, Repository } from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';

/**
 * Writes inside one SQLite transaction. Every method runs its statement at once (synchronously),
 * so the work function must not await: that is what keeps other requests' queries out of it.
 * Statements are built with TypeORM's query builder, so column names and JSON columns come
 * from the entities as everywhere else.
 */
export class Tx {
  /** Run by Transactions.run once the transaction has committed (never after a rollback). */
  readonly committed: Array<() => void> = [];

  constructor(readonly db: BetterSqlite3.Database) {}

  /** Calls fn after the commit: for news of the change (e.g. metrics) that must not outrun or outlive it. */
  afterCommit(fn: () => void): void {
    this.committed.push(fn);
  }

  /** The given columns (entity property names) of the matching rows, read inside the transaction; raw values (JSON columns stay strings). */
  find<E extends ObjectLiteral, K extends keyof E & string>(repo: Repository<E>, where: FindOptionsWhere<E>, columns: K[]): Pick<E, K>[] {
    const qb = repo.createQueryBuilder('row').select([]).where(where);
    for (const c of columns) qb.addSelect(`row.${c}`, c);
    const [sql, params] = qb.getQueryAndParameters();
    return this.db.prepare(sql).all(...(params as unknown[])) as Pick<E, K>[];
  }

  /** Inserts one row or several; returns how many went in. */
  insert<E extends ObjectLiteral>(repo: Repository<E>, values: QueryDeepPartialEntity<E> | QueryDeepPartialEntity<E>[]): number {
    return this.run(repo.createQueryBuilder().insert().values(values).getQueryAndParameters());
  }

  /** Inserts, or on a clash of the conflict columns (database names) overwrites the update columns. */
  upsert<E extends ObjectLiteral>(repo: Repository<E>, values: QueryDeepPartialEntity<E>, update: string[], conflict: string[]): number {
    return this.run(repo.createQueryBuilder().insert().values(values).orUpdate(update, conflict).getQueryAndParameters());
  }

  /** Returns how many rows matched: a conditional update (… WHERE x IS NULL) is a claim that 0 lost. */
  update<E extends ObjectLiteral>(repo: Repository<E>, where: FindOptionsWhere<E>, set: QueryDeepPartialEntity<E>): number {
    return this.run(repo.createQueryBuilder().update().set(set).where(where).getQueryAndParameters());
  }

  delete<E extends ObjectLiteral>(repo: Repository<E>, where: FindOptionsWhere<E>): number {
    return this.run(repo.createQueryBuilder().delete().where(where).getQueryAndParameters());
  }

  private run([sql, params]: [string, unknown[]]): number {
    return this.db.prepare(sql).run(...params).changes;
  }
}

/**
 * Runs a change and what records it (token rows, the audit row) as ONE SQLite transaction,
 * so a crash (even kill -9) keeps all of it or none.
 *
 * Why not DataSource.transaction(): TypeORM's better-sqlite3 driver has a single connection and a
 * single shared query runner, so an async transaction there takes in whatever queries other requests
 * run between its awaits (a rollback would undo their writes too), and two concurrent ones nest as
 * savepoints of each other. better-sqlite3's own transaction is synchronous: nothing can interleave.
 */
@Injectable()
export class Transactions {
  constructor(private readonly dataSource: DataSource) {}

  /** The connection TypeORM uses; writes through it are seen by every repository at once. */
  get db(): BetterSqlite3.Database {
    return (this.dataSource.driver as unknown as { databaseConnection: BetterSqlite3.Database }).databaseConnection;
  }

  /** Runs work in a transaction (BEGIN IMMEDIATE) and commits when it returns; a throw rolls it all back. */
  run<T>(work: (tx: Tx) => T): T {
    const db = this.db;
    if (db.inTransaction) {
      // Someone holds an async TypeORM transaction open: ours would silently become part of it.
      throw new Error('a TypeORM transaction is open on the shared SQLite connection; use Transactions.run instead');
    }
    const tx = new Tx(db);
    const result = db.transaction(() => work(tx)).immediate();
    for (const fn of tx.committed) fn();
    return result;
  }
}
