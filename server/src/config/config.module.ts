import { DynamicModule, Global, Module } from '@nestjs/common';
import { LoadedConfig } from './config.loader';
import { ConfigService } from './config.service';

@Global()
@Module({})
export class ConfigModule {
  /** `role: 'cli'` for a command's context: it reads and writes the database but never re-seeds it from its own config. */
  static register(config: LoadedConfig, role: 'gateway' | 'cli' = 'gateway'): DynamicModule {
    return {
      module: ConfigModule,
      providers: [{ provide: ConfigService, useValue: new ConfigService(config, role === 'gateway') }],
      exports: [ConfigService],
    };
  }
}
