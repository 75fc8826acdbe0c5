import { Upstream } from '../upstream';

/**
 * A user's sign-in at an upstream's authorization server between the redirect and the callback,
 * stored by PendingSignIns (server/src/pending-sign-ins/) under its `state`, so that the callback
 * may land on any replica. The upstream as it was at the start (its settings sealed with the rest).
 */
export interface PendingUpstreamSignIn {
  upstream: Upstream;
  userId: string;
  verifier: string;
  returnTo: string;
  redirectUri: string;
}
