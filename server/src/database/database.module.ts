import { mkdirSync } from 'node:fs';
import type BetterSqlite3 from 'better-sqlite3';
import { join } from 'node:path';
import { Global, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { ConfigService } from '../config/config.service';
import { MIGRATIONS } from './migrations';
import { Transactions } from './transactions';
import { limitWalSize, WalCheckpoint } from './wal-checkpoint';

export const DATABASE_FILE = 'gatehouse.db';

@Global()
@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      inject: [ConfigService],
      useFactory: (config: ConfigService) => {
        mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
        return {
          type: 'better-sqlite3' as const,
          database: join(config.dataDir, DATABASE_FILE),
          autoLoadEntities: true,
          synchronize: false,
          migrations: MIGRATIONS,
          migrationsRun: true,
          migrationsTransactionMode: 'each' as const,
          // A database that cannot be opened will not open 3 s later either: fail the start at once,
          // with the error, instead of @nestjs/typeorm's default of 9 retries logging stack traces.
          retryAttempts: 0,
          toRetry: () => false,
          prepareDatabase: (db: BetterSqlite3.Database) => {
            db.pragma('journal_mode = WAL');
            db.pragma('synchronous = NORMAL');
            db.pragma('busy_timeout = 5000');
            db.pragma('foreign_keys = ON');
            limitWalSize(db);
          },
        };
      },
    }),
  ],
  providers: [Transactions, WalCheckpoint],
  exports: [Transactions],
})
export class DatabaseModule {}
