import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { VaultKey } from './vault-key.entity';
import { VaultSecret } from './vault-secret.entity';
import { VaultService } from './vault.service';

@Module({
  imports: [TypeOrmModule.forFeature([VaultSecret, VaultKey])],
  providers: [VaultService],
  exports: [VaultService],
})
export class VaultModule {}
