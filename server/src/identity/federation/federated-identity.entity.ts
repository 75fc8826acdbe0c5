import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

/**
 * A gateway user's account at an OpenID Connect provider: the provider's `sub` is the stable key
 * (OIDC Core §5.7: `email` may change or be reassigned; `iss` + `sub` may not).
 */
@Entity('federated_identities')
export class FederatedIdentity {
  @PrimaryColumn('text')
  provider: string;

  @PrimaryColumn('text')
  subject: string;

  @Index()
  @Column('text', { name: 'user_id' })
  userId: string;

  /** The email the provider gave at the last sign-in (shown on the user's page). */
  @Column('text', { nullable: true })
  email: string | null;

  @Column('integer', { name: 'linked_at' })
  linkedAt: number;

  @Column('integer', { name: 'last_sign_in_at' })
  lastSignInAt: number;
}
