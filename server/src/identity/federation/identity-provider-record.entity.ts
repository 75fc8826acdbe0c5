import { Column, Entity, PrimaryColumn } from 'typeorm';

/**
 * An OpenID Connect provider added in the console (those of config.yaml are not stored). Its client
 * secret is in the vault (identityProviderOwner(id), OIDC_CLIENT_SECRET_PURPOSE), never in this row.
 */
@Entity('identity_providers')
export class IdentityProviderRecord {
  @PrimaryColumn('text')
  id: string;

  @Column('text')
  name: string;

  @Column('text')
  issuer: string;

  @Column('text', { name: 'client_id' })
  clientId: string;

  @Column('simple-json')
  scopes: string[];

  @Column('text', { name: 'groups_claim' })
  groupsClaim: string;

  @Column('text', { name: 'new_users' })
  newUsers: string;

  @Column('simple-json', { name: 'allowed_email_domains' })
  allowedEmailDomains: string[];

  @Column('integer', { name: 'created_at' })
  createdAt: number;

  @Column('integer', { name: 'updated_at' })
  updatedAt: number;
}
