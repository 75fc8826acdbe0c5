import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { IdentityModule } from '../identity/identity.module';
import { UpstreamsModule } from '../upstreams/upstreams.module';
import { VaultModule } from '../vault/vault.module';
import { AccessToken } from './access-token.entity';
import { AuthorizationCode } from './authorization-code.entity';
import { AuthorizeController } from './authorize.controller';
import { ClientMetadataService } from './cimd/client-metadata.service';
import { OAuthClient } from './client.entity';
import { ClientsService } from './clients.service';
import { Consent } from './consent.entity';
import { ConsentService } from './consent.service';
import { Grant } from './grant.entity';
import { MetadataController } from './metadata.controller';
import { RefreshToken } from './refresh-token.entity';
import { RegistrationController } from './registration.controller';
import { ResourceHintsService } from './resource-hints.service';
import { TokenController } from './token.controller';
import { TokensService } from './tokens.service';

@Module({
  imports: [
    TypeOrmModule.forFeature([OAuthClient, Consent, AuthorizationCode, Grant, RefreshToken, AccessToken]),
    IdentityModule,
    UpstreamsModule,
    VaultModule,
  ],
  controllers: [MetadataController, RegistrationController, AuthorizeController, TokenController],
  providers: [ClientsService, ClientMetadataService, ConsentService, ResourceHintsService, TokensService],
  exports: [TokensService, ClientsService],
})
export class OAuthModule {}
