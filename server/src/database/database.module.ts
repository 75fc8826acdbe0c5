import { Global, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSourceOptions } from 'typeorm';
import { ConfigService } from '../config/config.service';
import { dataSourceOptions, openDataSource } from './engine';
import { ChangeFeed } from './change-feed';
import { Transactions } from './transactions';
import { WalCheckpoint } from './wal-checkpoint';

export { DATABASE_FILE } from './engine';

@Global()
@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      inject: [ConfigService],
      useFactory: (config: ConfigService) => ({
        ...dataSourceOptions({ url: config.databaseUrl, dataDir: config.dataDir }),
        autoLoadEntities: true,
        // A database that cannot be opened will not open 3 s later either: fail the start at once,
        // with the error, instead of @nestjs/typeorm's default of 9 retries logging stack traces.
        retryAttempts: 0,
        toRetry: () => false,
      }),
      dataSourceFactory: (options) => openDataSource(options as DataSourceOptions),
    }),
  ],
  providers: [Transactions, ChangeFeed, WalCheckpoint],
  exports: [Transactions, ChangeFeed],
})
export class DatabaseModule {}
