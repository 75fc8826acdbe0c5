/**
 * Figures other modules own, asked for at each scrape. metrics/ cannot import them (oauth/ and
 * upstreams/ write audit rows, which metrics/ listens to), so a module that can answer provides
 * one of these tokens, e.g. in OAuthModule:
 *   { provide: ACTIVE_GRANTS_SOURCE, inject: [TokensService], useFactory: (t) => () => t.countActiveGrants() }
 * It is looked up in any module when the app starts; without one, its metric is left out.
 */

/** How many grants are active (not revoked): `gatehouse_active_grants`. */
export const ACTIVE_GRANTS_SOURCE = Symbol('ACTIVE_GRANTS_SOURCE');
export type ActiveGrantsSource = () => Promise<number> | number;

/** The last reachability probe of each enabled upstream: `gatehouse_upstream_up`. */
export const UPSTREAM_STATES_SOURCE = Symbol('UPSTREAM_STATES_SOURCE');
export interface UpstreamState {
  slug: string;
  reachable: boolean;
}
export type UpstreamStatesSource = () => Iterable<UpstreamState> | Promise<Iterable<UpstreamState>>;
