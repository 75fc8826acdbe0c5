/**
 * The SSRF guard: the one way the gateway makes HTTP requests to URLs it did not get from its own
 * configuration file.
 */
export { OutboundAddressRefused, OutboundRequestError, OutboundTimeout, OutboundTooLarge } from './errors';
export { createGuardedAgent, guardedLookup, literalHostRefusal } from './guarded-agent';
export { outboundRequest, type OutboundRequestOptions, type OutboundResponse } from './outbound-request';
export { isPublicAddress, nonPublicReason } from './public-address';
