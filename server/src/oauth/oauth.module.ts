import { ACTIVE_GRANTS_COUNTER } from '../audit/active-grants-counter';
import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { IdentityModule } from '../identity/identity.module';
import { UpstreamsModule } from '../upstreams/upstreams.module';
import { VaultModule } from '../vault/vault.module';
import { AccessToken } from './access-token.entity';
import { AuthorizationCode } from './authorization-code.entity';
import { AuthorizeController } from './authorize/authorize.controller';
import { AuthorizeFlow } from './authorize/authorize.flow';
import { ClientMetadataService } from './cimd/client-metadata.service';
import { ClientDirectory } from './client-directory.service';
import { OAuthClient } from './client.entity';
import { ClientsService } from './clients.service';
import { Consent } from './consent.entity';
import { ConsentService } from './consent.service';
import { Grant } from './grant.entity';
import { LiveGrantsByUser, LiveGrantTotals } from './live-grant-counts.entity';
import { AccessTokenCache } from './grants/access-token.cache';
import { CodeExchange } from './grants/code-exchange';
import { GrantRevocation } from './grants/grant-revocation';
import { GrantsPurge } from './grants/grants-purge';
import { GrantsService } from './grants/grants.service';
import { GrantLastUsed } from './grants/last-used';
import { RefreshRotation } from './grants/refresh-rotation';
import { TokenPairs } from './grants/token-pairs';
import { DiscoverySightings } from './metadata/discovery-sightings';
import { MetadataController } from './metadata/metadata.controller';
import { RefreshToken } from './refresh-token.entity';
import { RegistrationController } from './register/registration.controller';
import { ResourceHintsService } from './resource-hints.service';
import { RevokeIntrospectController } from './revoke-introspect/revoke-introspect.controller';
import { AuthorizationCodeGrant } from './token/authorization-code.grant';
import { GrantTypes } from './token/grant-types';
import { RefreshTokenGrant } from './token/refresh-token.grant';
import { TokenController } from './token/token.controller';

/** The grants store: GrantsService, and the parts it is made of (only it uses them). */
const GRANTS_STORE = [AccessTokenCache, TokenPairs, GrantRevocation, CodeExchange, RefreshRotation, GrantLastUsed, GrantsPurge, GrantsService];

/**
 * The OAuth authorization server, by endpoint (authorize/, token/, register/, metadata/,
 * revoke-introspect/), over the grants store (grants/), which alone owns grants, codes and tokens.
 */
@Module({
  imports: [
    TypeOrmModule.forFeature([OAuthClient, Consent, AuthorizationCode, Grant, RefreshToken, AccessToken, LiveGrantTotals, LiveGrantsByUser]),
    IdentityModule,
    UpstreamsModule,
    VaultModule,
  ],
  controllers: [MetadataController, RegistrationController, AuthorizeController, TokenController, RevokeIntrospectController],
  providers: [
    ClientsService,
    ClientMetadataService,
    ConsentService,
    ResourceHintsService,
    DiscoverySightings,
    ...GRANTS_STORE,
    ClientDirectory,
    AuthorizeFlow,
    GrantTypes,
    AuthorizationCodeGrant,
    RefreshTokenGrant,
    // The dashboard asks through this token (audit/ cannot import oauth/).
    { provide: ACTIVE_GRANTS_COUNTER, useExisting: GrantsService },
  ],
  exports: [GrantsService, ClientsService, ClientDirectory],
})
export class OAuthModule {}
