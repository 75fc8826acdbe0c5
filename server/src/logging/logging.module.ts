import { Global, Module } from '@nestjs/common';
import { ConfigService } from '../config/config.service';
import { AppLogger, gatewayLogger } from './app-logger';

/** Injects the gateway's AppLogger (the one Nest itself logs through; see gatewayLogger). */
@Global()
@Module({
  providers: [{ provide: AppLogger, inject: [ConfigService], useFactory: (config: ConfigService) => gatewayLogger(config.loaded) }],
  exports: [AppLogger],
})
export class LoggingModule {}
