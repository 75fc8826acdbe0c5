import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

export type TokenEndpointAuthMethod = 'none' | 'client_secret_post' | 'client_secret_basic';

/** An RFC 7591 dynamically registered client. */
@Entity('oauth_clients')
@Index(['registrationSource', 'createdAt'])
/** The admin API's clients list, newest first. */
@Index(['createdAt', 'clientId'])
export class OAuthClient {
  @PrimaryColumn('text', { name: 'client_id' })
  clientId: string;

  @Column('text', { name: 'client_secret_hash', nullable: true })
  clientSecretHash: string | null;

  @Column('text', { name: 'client_name', nullable: true })
  clientName: string | null;

  @Column('simple-json', { name: 'redirect_uris' })
  redirectUris: string[];

  @Column('text', { name: 'token_endpoint_auth_method' })
  tokenEndpointAuthMethod: TokenEndpointAuthMethod;

  @Column('simple-json', { name: 'grant_types' })
  grantTypes: string[];

  @Column('simple-json', { name: 'response_types' })
  responseTypes: string[];

  @Column('text', { nullable: true })
  scope: string | null;

  /** The remaining registered metadata (client_uri, logo_uri, software_id, …) as sent. */
  @Column('simple-json', { name: 'extra_metadata' })
  extraMetadata: Record<string, unknown>;

  @Column('integer', { name: 'created_at' })
  createdAt: number;

  @Column('integer', { name: 'last_used_at', nullable: true })
  lastUsedAt: number | null;

  /** Where the registration came from, to cap clients that re-register on every sign-in. */
  @Column('text', { name: 'registration_source', nullable: true })
  registrationSource: string | null;
}
