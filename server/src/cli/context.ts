import 'reflect-metadata';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DynamicModule, HttpException, INestApplicationContext, Module, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AuditModule } from '../audit/audit.module';
import { LoadedConfig } from '../config/config.loader';
import { ConfigModule } from '../config/config.module';
import { DATABASE_FILE, DatabaseModule } from '../database/database.module';
import { IdentityModule } from '../identity/identity.module';
import { CliError, dataDirOf } from './common';

@Module({})
class CliModule {}

/**
 * The services a command needs, on the gateway's data directory, without the HTTP server: a Nest
 * application context with only the modules named (configuration, database, audit and identity
 * always). SQLite in WAL mode lets it write beside a running gateway. The database must exist:
 * a command never creates one (a typo in DATA_DIR would otherwise start an empty gateway's worth).
 */
export async function withServices<T>(config: LoadedConfig, extra: (Type<unknown> | DynamicModule)[], work: (app: INestApplicationContext) => Promise<T>): Promise<T> {
  const database = join(dataDirOf(config), DATABASE_FILE);
  // On PostgreSQL (database.url / DATABASE_URL) the gateway's database is the server's: nothing to find on disk.
  if (!config.database?.url && !existsSync(database)) throw new CliError(`no Gatehouse database at ${database}; start the gateway once, or pass --data-dir (or set DATA_DIR)`);
  const root: DynamicModule = { module: CliModule, imports: [ConfigModule.register(config, 'cli'), DatabaseModule, AuditModule, IdentityModule, ...extra] };
  let app: INestApplicationContext;
  try {
    app = await NestFactory.createApplicationContext(root, { logger: ['error'], abortOnError: false });
  } catch (err) {
    throw new CliError(`cannot open the data directory: ${(err as Error).message}`);
  }
  try {
    return await work(app);
  } catch (err) {
    // The services' refusals (the last admin, a taken email, …) are meant for people as they are.
    if (err instanceof HttpException) throw new CliError(messageOf(err));
    throw err;
  } finally {
    await app.close();
  }
}

function messageOf(err: HttpException): string {
  const body = err.getResponse();
  return typeof body === 'object' && 'message' in body ? String(body.message) : err.message;
}
