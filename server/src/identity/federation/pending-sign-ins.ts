/** What openid-client's passport strategy keeps between the redirect and the callback: PKCE verifier, state, nonce. */
export type StrategyStateData = Record<string, unknown> & { code_verifier: string };

/**
 * A federated sign-in between the redirect to the provider and its callback. Stored by
 * PendingSignIns (server/src/pending-sign-ins/) under a random key kept in the browser's cookie
 * (not under `state`, which travels in URLs): the callback must come back to the browser that
 * started it (a login-CSRF defence, RFC 6749 §10.12), on whichever replica, and only once.
 */
export interface PendingFederatedSignIn {
  provider: string;
  /** Where the browser goes once signed in (a same-origin path: the /authorize flow, the console). */
  returnTo: string;
  stateData: StrategyStateData;
}
