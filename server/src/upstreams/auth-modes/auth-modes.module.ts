import { Module } from '@nestjs/common';
import { VaultModule } from '../../vault/vault.module';
import { UpstreamOAuthModule } from '../upstream-oauth/upstream-oauth.module';
import type { AuthModeStrategy } from './auth-mode';
import { AuthModesService } from './auth-modes.service';
import { AUTH_MODE_CLASSES } from './index';

/** Each registered mode is a provider (it may need services); AuthModesService maps mode → instance. */
@Module({
  imports: [VaultModule, UpstreamOAuthModule],
  providers: [
    ...AUTH_MODE_CLASSES,
    {
      provide: AuthModesService,
      useFactory: (...strategies: AuthModeStrategy[]) => new AuthModesService(new Map(AUTH_MODE_CLASSES.map((c, i) => [c.mode, strategies[i]]))),
      inject: [...AUTH_MODE_CLASSES],
    },
  ],
  exports: [AuthModesService],
})
export class AuthModesModule {}
