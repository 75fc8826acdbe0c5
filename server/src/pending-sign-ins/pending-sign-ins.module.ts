import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { VaultModule } from '../vault/vault.module';
import { PendingSignInRecord } from './pending-sign-in.entity';
import { PendingSignIns } from './pending-sign-ins.service';

/** Sign-ins at other authorization servers awaiting their callback, in the database so that any replica can complete them. */
@Module({
  imports: [TypeOrmModule.forFeature([PendingSignInRecord]), VaultModule],
  providers: [PendingSignIns],
  exports: [PendingSignIns],
})
export class PendingSignInsModule {}
