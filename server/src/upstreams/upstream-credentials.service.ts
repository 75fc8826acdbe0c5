import { Injectable } from '@nestjs/common';
import { AuthModesService, CredentialResult } from './auth-modes';
import { Upstream } from './upstream';

export type { CredentialResult } from './auth-modes';

/**
 * What the gateway sends upstream in place of the client's token: each upstream's auth mode
 * (upstreams/auth-modes) decides. The proxy's entry point.
 */
@Injectable()
export class UpstreamCredentialsService {
  constructor(private readonly authModes: AuthModesService) {}

  headersFor(upstream: Upstream, userId: string): Promise<CredentialResult> {
    return this.authModes.for(upstream).headersFor(upstream, userId);
  }

  /** What the client is told when the credential cannot be sent as a header. */
  unsendableCredentialHint(upstream: Upstream): string {
    return this.authModes.for(upstream).unsendableCredentialHint(upstream);
  }

  /** The upstream answered 401 to the credential headersFor() gave for this user. */
  onUpstreamUnauthorized(upstream: Upstream, userId: string): void {
    this.authModes.for(upstream).onUpstreamUnauthorized(upstream, userId);
  }

  /** Whether the user has entered the credentials their upstream's mode asks for at consent. */
  hasUserCredentials(upstream: Upstream, userId: string): Promise<boolean> {
    return this.authModes.for(upstream).hasConsentInput(upstream, userId);
  }
}
