import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import 'reflect-metadata';
import { DynamicModule, INestApplicationContext, Module, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { DataSource } from 'typeorm';
import { LoadedConfig } from '../../server/src/config/config.loader';
import { ConfigModule } from '../../server/src/config/config.module';
import { DatabaseModule } from '../../server/src/database/database.module';
import { configFrom } from '../helpers/gateway';
import { dropPostgresDatabase, postgresDatabase, testEngine } from '../helpers/test-database';

/**
 * The medium test tier: one or a few Nest modules with their real providers, against a real
 * database (migrations run, as at a gateway start), without HTTP: a SQLite file, or with
 * GATEHOUSE_TEST_DB=postgres a fresh PostgreSQL database (test/helpers/test-database.ts). Built with
 * NestFactory.createApplicationContext (@nestjs/testing is not installed; this is what it wraps).
 */
export interface NestContextOptions {
  /** The module(s) under test, and whatever they need besides ConfigModule and DatabaseModule (e.g. AuditModule). */
  imports: (Type<unknown> | DynamicModule)[];
  /** Reuse a data directory (restart tests); a fresh temporary one otherwise. */
  dataDir?: string;
  /** Raw config (as it would be in config.yaml), merged over the test defaults. */
  config?: Record<string, unknown>;
}

export interface NestContext {
  app: INestApplicationContext;
  dataDir: string;
  config: LoadedConfig;
  db: DataSource;
  /** Closes the context (lifecycle hooks run, the database closes); the data directory is kept until cleanup(). */
  close(): Promise<void>;
  cleanup(): void;
}

@Module({})
class MediumTestModule {}

/** Starts the modules; rejects with the start-up error (e.g. a MasterKeyError) when one fails to initialise. */
export async function createNestContext(opts: NestContextOptions): Promise<NestContext> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'gatehouse-medium-'));
  const server = (opts.config?.server ?? {}) as Record<string, unknown>;
  // Nothing listens: the server section only matters for data_dir (and the public URL services build links from).
  const database = testEngine() === 'postgres' ? { url: await postgresDatabase(dataDir) } : {};
  const config = configFrom({ ...opts.config, server: { ...server, data_dir: dataDir }, database });
  const root: DynamicModule = { module: MediumTestModule, imports: [ConfigModule.register(config), DatabaseModule, ...opts.imports] };
  // abortOnError: false makes a failed start throw (as the gateway's startGateway does) instead of exiting the process.
  const app = await NestFactory.createApplicationContext(root, { logger: ['error'], abortOnError: false });
  return {
    app,
    dataDir,
    config,
    db: app.get(DataSource),
    close: () => app.close(),
    cleanup: () => {
      rmSync(dataDir, { recursive: true, force: true });
      if (testEngine() === 'postgres') dropPostgresDatabase(dataDir);
    },
  };
}
