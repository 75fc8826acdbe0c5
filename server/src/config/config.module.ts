import { DynamicModule, Global, Module } from '@nestjs/common';
import { LoadedConfig } from './config.loader';
import { ConfigService } from './config.service';

@Global()
@Module({})
export class ConfigModule {
  static register(config: LoadedConfig): DynamicModule {
    return {
      module: ConfigModule,
      providers: [{ provide: ConfigService, useValue: new ConfigService(config) }],
      exports: [ConfigService],
    };
  }
}
