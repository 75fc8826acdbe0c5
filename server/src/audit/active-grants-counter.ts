/**
 * What the dashboard asks the OAuth module: how many grants are active (not revoked) and how many
 * users hold one. audit/ cannot import oauth/ (oauth writes audit rows through AuditService), so it
 * asks through this interface: a provider of ACTIVE_GRANTS_COUNTER in any module (e.g.
 * `{ provide: ACTIVE_GRANTS_COUNTER, useExisting: TokensService }` in OAuthModule) is found at the
 * first dashboard request; without one the dashboard answers null for both figures.
 */
export interface ActiveGrantsCounter {
  countActiveGrants(): Promise<{ grants: number; users: number }>;
}

export const ACTIVE_GRANTS_COUNTER = Symbol('ACTIVE_GRANTS_COUNTER');
